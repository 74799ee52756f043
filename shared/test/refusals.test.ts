import { createExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { isServiceError, ServiceError } from "../src/errors";
import { MeshEntrypoint, refusingEntrypoint, servicesOf } from "../src/refusals";

interface ToyEnv {
  NAME: string;
}

class ToyService extends MeshEntrypoint<ToyEnv> {
  async refuse(): Promise<never> {
    throw new ServiceError("insufficient_credits", "needs 5 credits", { needed: 5 });
  }
  async fault(): Promise<never> {
    throw new TypeError("a bug");
  }
  async answer(n: number): Promise<{ n: number; name: string }> {
    return { n, name: this.env.NAME };
  }
  /** One method calling another sees the exception, not the wire's value. */
  async recover(): Promise<string> {
    try {
      await this.refuse();
      return "not refused";
    } catch (error) {
      return isServiceError(error) ? `caught ${error.code}` : "missed";
    }
  }
  fetch(): Response {
    return new Response("fetched");
  }
}

const ToyEntrypoint = refusingEntrypoint<ToyEnv, typeof ToyService>(ToyService);

function entrypoint(): ToyService {
  return new ToyEntrypoint(createExecutionContext(), { NAME: "toy" });
}

/** What a service binding looks like to `servicesOf`: workerd tags it `[object Fetcher]`. */
function bindingTo(target: ToyService): ToyService {
  const binding = {
    [Symbol.toStringTag]: "Fetcher",
    refuse: () => target.refuse(),
    fault: () => target.fault(),
    answer: (n: number) => target.answer(n),
    recover: () => target.recover(),
    fetch: () => target.fetch(),
  };
  return binding as unknown as ToyService;
}

async function outcome(promise: Promise<unknown>): Promise<unknown> {
  try {
    return { resolved: await promise };
  } catch (error) {
    return { rejected: error };
  }
}

describe("refusals across RPC", () => {
  it("answers a ServiceError as a value on the wire, so nothing is thrown out of the method", async () => {
    const answer = await outcome(entrypoint().refuse());
    expect(answer).toHaveProperty("resolved");
    expect(JSON.stringify(answer)).toContain("insufficient_credits");
  });

  it("still throws a fault, so a bug is logged and surfaces as one", async () => {
    const answer = (await outcome(entrypoint().fault())) as { rejected?: unknown };
    expect(answer.rejected).toBeInstanceOf(TypeError);
  });

  it("passes answers and handlers through, with the service's env", async () => {
    const service = entrypoint();
    expect(await service.answer(3)).toEqual({ n: 3, name: "toy" });
    expect(await (await service.fetch()).text()).toBe("fetched");
  });

  it("keeps exceptions between a service's own methods", async () => {
    expect(await entrypoint().recover()).toBe("caught insufficient_credits");
  });

  it("makes the refusal a ServiceError again on the caller's side, details intact", async () => {
    const env = servicesOf({ TOY: bindingTo(entrypoint()), NAME: "caller" });
    const answer = (await outcome(env.TOY.refuse())) as { rejected?: unknown };
    expect(isServiceError(answer.rejected)).toBe(true);
    expect(answer.rejected).toMatchObject({
      name: "ServiceError",
      code: "insufficient_credits",
      status: 402,
      message: "needs 5 credits",
      details: { needed: 5 },
    });
    expect(await env.TOY.answer(4)).toEqual({ n: 4, name: "toy" });
    expect(((await outcome(env.TOY.fault())) as { rejected?: unknown }).rejected).toBeInstanceOf(TypeError);
    expect(await (await env.TOY.fetch()).text()).toBe("fetched");
  });

  it("refuses a refusal whose code this build does not know, as a fault", async () => {
    const wire = { "cognomega.refusal": { code: "no_such_code", message: "from a newer callee" } };
    const binding = { [Symbol.toStringTag]: "Fetcher", call: async () => wire };
    const env = servicesOf({ NEWER: binding });
    const answer = (await outcome(env.NEWER.call())) as { rejected?: unknown };
    expect(isServiceError(answer.rejected)).toBe(false);
    expect(String(answer.rejected)).toContain("unknown code");
  });

  it("gives one view per env, wraps a binding once, and leaves other bindings as they are", () => {
    const kv = { get: () => null };
    const raw = { TOY: bindingTo(entrypoint()), KV: kv };
    const env = servicesOf(raw);
    expect(servicesOf(raw)).toBe(env);
    expect(env.KV).toBe(kv);
    expect(env.TOY).toBe(env.TOY);
    expect(env.TOY).not.toBe(raw.TOY);
    // A view of a view (e.g. `{ ...env }` handed to a service) does not wrap twice.
    expect(servicesOf({ ...env }).TOY).toBe(env.TOY);
  });

  it("gives a service constructed on any env the caller's view of it", async () => {
    const raw = { NAME: "direct", TOY: bindingTo(entrypoint()) };
    class Caller extends MeshEntrypoint<typeof raw> {
      async ask(): Promise<unknown> {
        return outcome(this.env.TOY.refuse());
      }
    }
    const answer = (await new Caller(createExecutionContext(), raw).ask()) as { rejected?: unknown };
    expect(isServiceError(answer.rejected)).toBe(true);
  });
});
