import { OciError } from '@berth/oci';
import { parseAttributeChanges } from './acr.dto';

const parse = (text: string) => parseAttributeChanges(Buffer.from(text));

function refusal(text: string): OciError {
  try {
    parse(text);
  } catch (error) {
    if (error instanceof OciError) return error;
    throw error;
  }
  throw new Error(`accepted ${text}`);
}

describe('parseAttributeChanges', () => {
  it('reads ACR\'s bare attribute object, partial or empty', () => {
    expect(parse('{"writeEnabled":false}')).toEqual({ writeEnabled: false });
    expect(parse('{"deleteEnabled":true,"readEnabled":false,"listEnabled":false}')).toEqual({ deleteEnabled: true, readEnabled: false, listEnabled: false });
    expect(parse('{}')).toEqual({});
  });

  it('accepts the changeableAttributes wrapper of the GET answers', () => {
    expect(parse('{"changeableAttributes":{"listEnabled":true}}')).toEqual({ listEnabled: true });
  });

  it('refuses malformed JSON, non-objects, unknown keys and non-booleans with 400 BAD_REQUEST', () => {
    for (const text of ['', '{', 'null', '[]', '"x"', '{"writeEnable":false}', '{"writeEnabled":"false"}', '{"writeEnabled":1}', '{"changeableAttributes":[]}']) {
      const error = refusal(text);
      expect(error.code).toBe('BAD_REQUEST');
      expect(error.status).toBe(400);
    }
    expect(refusal('{"teleportEnabled":true}').detail).toEqual({ attribute: 'teleportEnabled' });
  });
});
