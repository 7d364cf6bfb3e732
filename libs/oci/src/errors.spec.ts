import { OciError } from './errors';

describe('OciError', () => {
  it('takes its status and message from the table', () => {
    const error = new OciError('BLOB_UNKNOWN');
    expect(error.status).toBe(404);
    expect(error.toJSON()).toEqual({ errors: [{ code: 'BLOB_UNKNOWN', message: 'blob unknown to registry' }] });
  });

  it('carries detail, a message override, a status override and headers', () => {
    const error = new OciError('MANIFEST_INVALID', { status: 413, message: 'too big', detail: { limit: 4 }, headers: { a: 'b' } });
    expect(error.status).toBe(413);
    expect(error.headers).toEqual({ a: 'b' });
    expect(JSON.parse(JSON.stringify(error))).toEqual({ errors: [{ code: 'MANIFEST_INVALID', message: 'too big', detail: { limit: 4 } }] });
  });
});
