// The part of `pg` (node-postgres) this worker uses, typed here rather than with @types/pg: those
// types pull in @types/node, and every worker that types a binding to AnalyticsService loads this
// worker's sources, so Node's globals (setTimeout returning a Timeout, Buffer) would leak into the
// gateway's and the jobs worker's programs.
declare module "pg" {
  /** A row as `pg` returns it: column name to parsed value. */
  export type QueryResultRow = Record<string, unknown>;

  export interface QueryResult<Row extends QueryResultRow = QueryResultRow> {
    rows: Row[];
    /** Rows the statement returned or affected; null for statements that report none. */
    rowCount: number | null;
    command: string;
  }

  export interface ClientConfig {
    connectionString?: string;
    host?: string;
    port?: number;
    user?: string;
    password?: string;
    database?: string;
    connectionTimeoutMillis?: number;
    statement_timeout?: number;
    query_timeout?: number;
  }

  export class Client {
    constructor(config?: string | ClientConfig);
    connect(): Promise<void>;
    query<Row extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<Row>>;
    end(): Promise<void>;
    on(event: "error", listener: (error: Error) => void): this;
    on(event: "notice", listener: (notice: Error) => void): this;
  }

  /** An error the server answered with; `code` is the SQLSTATE. */
  export class DatabaseError extends Error {
    code?: string;
    severity?: string;
    detail?: string;
    constraint?: string;
  }

  export function escapeIdentifier(value: string): string;
  export function escapeLiteral(value: string): string;
}
