// `env` from cloudflare:workers is Cloudflare.Env; only this worker's program gives it AnalyticsEnv, so
// the other workers' programs (which include this worker's generated file) never see these bindings.
declare namespace Cloudflare {
  interface Env extends AnalyticsEnv {}
}
