// One lazily opened Temporal connection per command: commands that need no server (plan, help,
// argument errors) never connect, and the connection is closed however the command ends. The
// global --address/--namespace/--profile are set before the command runs.
import type { Client } from '@temporalio/client';
import { clientFromEnv, type EnvClient } from '../client/connection';
import type { TemporalFlags } from '../client/temporal-target';

export class Session {
  private connection: EnvClient | undefined;
  flags: TemporalFlags = {};

  async env(): Promise<EnvClient> {
    this.connection ??= await clientFromEnv(process.env, this.flags);
    return this.connection;
  }

  async client(): Promise<Client> {
    return (await this.env()).client;
  }

  async taskQueue(): Promise<string> {
    return (await this.env()).taskQueue;
  }

  async close(): Promise<void> {
    await this.connection?.close();
    this.connection = undefined;
  }
}
