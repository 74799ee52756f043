/** The BillingService methods a service's holds and charges go through. */
const HOLD_METHODS = [
  "openAllowance",
  "settleAllowance",
  "reserve",
  "settle",
  "void",
  "beginOperation",
  "completeOperation",
  "abandonOperation",
] as const;
type HoldMethod = (typeof HOLD_METHODS)[number];

/**
 * A service's BILLING binding that counts the calls made to each hold method before passing them
 * to the real billing worker, and fails the first `settleFailures` allowance settlements as an
 * unreachable ledger would. Every method is wrapped, never `bind`-ed: on an RPC binding `.bind`
 * would itself be a remote call. SI's and voice's allowance tests share it.
 */
export function countingBilling<Billing>(real: Billing, settleFailures = 0) {
  const counts = Object.fromEntries(HOLD_METHODS.map((method) => [method, 0])) as Record<HoldMethod, number>;
  const target = real as unknown as Record<HoldMethod, (...args: unknown[]) => Promise<unknown>>;
  let failures = settleFailures;
  const billing = Object.fromEntries(
    HOLD_METHODS.map((method) => [
      method,
      (...args: unknown[]) => {
        counts[method] += 1;
        if (method === "settleAllowance" && failures > 0) {
          failures -= 1;
          return Promise.reject(new Error("billing unreachable"));
        }
        return target[method](...args);
      },
    ]),
  );
  return { billing: billing as unknown as Billing, counts };
}
