import { ByteBudget } from './byte-budget';

/** A promise with its resolve function, to hold work open until the test lets it finish. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('ByteBudget', () => {
  it('runs work at once while bytes are available and never hands out more than its capacity', async () => {
    const budget = new ByteBudget(100);
    const gates = [gate(), gate(), gate()];
    const started: number[] = [];
    const runs = [60, 40, 30].map((bytes, i) =>
      budget.run(bytes, async () => {
        started.push(i);
        await gates[i]!.promise;
        return i;
      }),
    );
    await tick();
    expect(started).toEqual([0, 1]);
    expect(budget.inUse).toBe(100);
    expect(budget.queued).toBe(1);

    gates[1]!.open(); // gives back 40: the 30-byte request fits now
    await tick();
    expect(started).toEqual([0, 1, 2]);
    expect(budget.inUse).toBe(90);

    gates[0]!.open();
    gates[2]!.open();
    expect(await Promise.all(runs)).toEqual([0, 1, 2]);
    expect(budget.inUse).toBe(0);
  });

  it('serves waiting requests first come, first served (a small one does not overtake a large one)', async () => {
    const budget = new ByteBudget(100);
    const first = gate();
    const order: string[] = [];
    const holder = budget.run(80, async () => {
      order.push('holder');
      await first.promise;
    });
    const large = budget.run(70, async () => void order.push('large'));
    const small = budget.run(10, async () => void order.push('small'));
    await tick();
    // 20 bytes are free, enough for the small request, but it queued behind the large one.
    expect(order).toEqual(['holder']);
    first.open();
    await Promise.all([holder, large, small]);
    expect(order).toEqual(['holder', 'large', 'small']);
  });

  it('gives the bytes back when the work throws', async () => {
    const budget = new ByteBudget(10);
    await expect(budget.run(10, async () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    expect(budget.inUse).toBe(0);
    await expect(budget.run(10, async () => 'next')).resolves.toBe('next');
  });

  it('serves a request larger than the whole budget, alone', async () => {
    const budget = new ByteBudget(10);
    const big = gate();
    let smallRan = false;
    const running = budget.run(1000, async () => {
      expect(budget.inUse).toBe(10);
      await big.promise;
    });
    const small = budget.run(1, async () => {
      smallRan = true;
    });
    await tick();
    expect(smallRan).toBe(false);
    big.open();
    await Promise.all([running, small]);
    expect(smallRan).toBe(true);
  });

  it('refuses a capacity that is not positive', () => {
    expect(() => new ByteBudget(0)).toThrow('positive capacity');
    expect(() => new ByteBudget(Number.NaN)).toThrow('positive capacity');
  });
});
