import { WorkerEntrypoint } from "cloudflare:workers";
import { type ErrorCode, type ErrorDetails, isServiceError, ServiceError } from "./errors";

// Expected refusals cross RPC as values, not exceptions.
//
// workerd reports every exception that leaves an RPC method as an uncaught exception of the callee,
// even one its caller handles (a stack trace per refusal in `wrangler dev` and the tests), and a
// refusal's log line would read as a fault. A 402 or a 404 is an answer, not a fault. So an entrypoint answers a ServiceError
// as a refusal value, and the caller's view of its bindings turns that value back into a ServiceError.
// Code on both sides throws and catches exactly as before; only the wire changes. Anything that is not
// a ServiceError (a bug, a lost connection) still crosses as an exception, and is still logged.

const REFUSAL = "cognomega.refusal";

/** What an entrypoint answers in place of throwing a ServiceError (never seen outside this module). */
interface Refusal {
  [REFUSAL]: { code: ErrorCode; message: string; details?: ErrorDetails };
}

function refusalOf(error: { code: ErrorCode; message: string; details?: ErrorDetails }): Refusal {
  const refused: Refusal[typeof REFUSAL] = { code: error.code, message: error.message };
  if (error.details !== undefined) refused.details = error.details;
  return { [REFUSAL]: refused };
}

function isRefusal(value: unknown): value is Refusal {
  return typeof value === "object" && value !== null && Object.hasOwn(value, REFUSAL);
}

function settle<T>(answer: T): T {
  if (!isRefusal(answer)) return answer;
  const { code, message, details } = answer[REFUSAL];
  const error = new ServiceError(code, message, details);
  // A code this build does not know (a newer callee) is a fault, not an answer to pass on.
  if (!isServiceError(error)) throw new Error(`refusal with an unknown code: ${String(code)}`);
  throw error;
}

// Handlers workerd calls itself; they are delegated as they are.
const HANDLERS = new Set(["fetch", "connect", "scheduled", "queue", "tail", "tailStream", "trace", "email", "test"]);

function methodNames(prototype: object): string[] {
  const names = new Set<string>();
  for (let proto = prototype; proto !== MeshEntrypoint.prototype && proto !== Object.prototype; ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name === "constructor") continue;
      if (typeof Object.getOwnPropertyDescriptor(proto, name)?.value === "function") names.add(name);
    }
    const next = Object.getPrototypeOf(proto) as object | null;
    if (next === null) break;
    proto = next;
  }
  return [...names];
}

type ServiceClass<Env extends object> = new (ctx: ExecutionContext, env: Env) => MeshEntrypoint<Env>;

/**
 * The RPC entrypoint of a service class: every method of `Service` called over a binding, where a
 * ServiceError it throws is answered as a refusal. The service's own calls between its methods, and
 * tests that construct `Service` directly, see plain exceptions. Typed as `Service`'s methods,
 * because a caller only ever sees it through {@link servicesOf}, which makes the refusal an
 * exception again.
 */
export function refusingEntrypoint<Env extends object, C extends ServiceClass<Env>>(
  Service: C,
): new (
  ctx: ExecutionContext,
  env: Env,
) => InstanceType<C> & Rpc.WorkerEntrypointBranded {
  const services = new WeakMap<object, Record<string, (...args: unknown[]) => unknown>>();
  class Entrypoint extends WorkerEntrypoint<Env> {}
  for (const name of methodNames(Service.prototype)) {
    const forward = async function (this: Entrypoint, ...args: unknown[]): Promise<unknown> {
      let service = services.get(this);
      if (service === undefined) {
        service = new Service(this.ctx, this.env) as unknown as Record<string, (...args: unknown[]) => unknown>;
        services.set(this, service);
      }
      if (HANDLERS.has(name)) return service[name]?.(...args);
      try {
        return await service[name]?.(...args);
      } catch (error) {
        if (isServiceError(error)) return refusalOf(error);
        throw error;
      }
    };
    Object.defineProperty(Entrypoint.prototype, name, { value: forward, writable: true, configurable: true });
  }
  Object.defineProperty(Entrypoint, "name", { value: `${Service.name}Entrypoint` });
  return Entrypoint as unknown as new (
    ctx: ExecutionContext,
    env: Env,
  ) => InstanceType<C> & Rpc.WorkerEntrypointBranded;
}

const callerViews = new WeakMap<object, object>();
const views = new WeakSet<object>();

function isServiceBinding(value: unknown): value is object {
  return typeof value === "object" && value !== null && Object.prototype.toString.call(value) === "[object Fetcher]";
}

function callerView<T extends object>(binding: T): T {
  if (views.has(binding)) return binding;
  let view = callerViews.get(binding) as T | undefined;
  if (view !== undefined) return view;
  const methods = new Map<string, (...args: unknown[]) => Promise<unknown>>();
  view = new Proxy(binding, {
    get(target, key) {
      const value = Reflect.get(target, key) as unknown;
      if (typeof key !== "string" || HANDLERS.has(key) || key === "then" || typeof value !== "function") {
        return typeof value === "function" ? value.bind(target) : value;
      }
      let method = methods.get(key);
      if (method === undefined) {
        method = async (...args: unknown[]) =>
          settle(await Reflect.apply(Reflect.get(target, key) as (...a: unknown[]) => unknown, target, args));
        methods.set(key, method);
      }
      return method;
    },
  });
  views.add(view);
  callerViews.set(binding, view);
  return view;
}

const envViews = new WeakMap<object, object>();

/**
 * `env` as a caller uses it: each service binding's answers that are refusals become ServiceErrors
 * again, so `await env.BILLING.adjust(...)` rejects with one exactly as a thrown error would. Every
 * other binding is returned as it is. The same `env` gives the same view.
 */
export function servicesOf<E extends object>(env: E): E {
  let view = envViews.get(env) as E | undefined;
  if (view !== undefined) return view;
  view = new Proxy(env, {
    get(target, key) {
      const value = Reflect.get(target, key) as unknown;
      return isServiceBinding(value) ? callerView(value) : value;
    },
  });
  envViews.set(env, view);
  return view;
}

/**
 * The base of a service's class: its `ctx`, and `env` as {@link servicesOf} it. Not itself a
 * WorkerEntrypoint: {@link refusingEntrypoint} makes the one workerd constructs per call, and a
 * second one per call would cost its native construction for nothing.
 */
export abstract class MeshEntrypoint<Env extends object> {
  protected readonly ctx: ExecutionContext;
  protected readonly env: Env;

  constructor(ctx: ExecutionContext, env: Env) {
    this.ctx = ctx;
    this.env = servicesOf(env);
  }
}
