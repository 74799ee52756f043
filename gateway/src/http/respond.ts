/** A JSON answer. The gateway adds `Cache-Control: no-store` unless the handler set its own. */
export function json(data: unknown, status = 200, headers?: HeadersInit): Response {
  const response = new Response(JSON.stringify(data), { status, headers });
  response.headers.set("Content-Type", "application/json; charset=utf-8");
  return response;
}
