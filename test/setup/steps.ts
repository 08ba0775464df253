/**
 * Names the step a long test is in, so that its failure — often a time-out, which says only
 * that the test ran out of time — says where it stopped.
 *
 * @example
 *   it("…", async ({ onTestFailed }) => {
 *     const { at, mark } = failureSteps("broker-revocation", onTestFailed);
 *     const broker = await at("start the broker", startTestBroker());
 *     mark("after revoke");
 *   });
 */
/** Passes a promise through as a named step (`failureSteps(…).at`, or `untracked`). */
export type Step = <T>(name: string, promise: Promise<T>) => Promise<T>;

/** A `Step` that names nothing, for helpers called outside a tracked test. */
export const untracked: Step = (_name, promise) => promise;

export function failureSteps(label: string, onTestFailed: (handler: () => void) => void) {
  let step = "start";
  onTestFailed(() => console.error(`${label}: failed during "${step}"`));
  return {
    /** Passes `promise` through, as step `name`. */
    at<T>(name: string, promise: Promise<T>): Promise<T> {
      step = name;
      return promise;
    },
    /** The steps from here on are `name`. */
    mark(name: string): void {
      step = name;
    },
  };
}
