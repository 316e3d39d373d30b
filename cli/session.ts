// One lazily opened Temporal connection per command: commands that need no server (plan, help,
// argument errors) never connect, and the connection is closed however the command ends.
import type { Client } from '@temporalio/client';
import { clientFromEnv, type EnvClient } from '../client/connection';

export class Session {
  private connection: EnvClient | undefined;

  async env(): Promise<EnvClient> {
    this.connection ??= await clientFromEnv();
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
