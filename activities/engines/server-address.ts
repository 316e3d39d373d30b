// Where an engine's session goes: what every database server's client needs, and nothing of one
// driver's (PostgreSQL's sessions add their own options: postgres/sessions.ts).
export interface ServerAddress {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}
