// One lazily opened Temporal connection per command: commands that need no server (plan, help,
// argument errors) never connect, and the connection is closed however the command ends.
import type { Client } from '@temporalio/client';
import { clientFromEnv, type EnvClient } from '../client/connection';

export class Session {
  private connection: EnvClient | undefined;

  async client(): Promise<Client> {
    this.connection ??= await clientFromEnv();
    return this.connection.client;
  }

  async taskQueue(): Promise<string> {
    await this.client();
    return this.connection!.taskQueue;
  }

  async close(): Promise<void> {
    await this.connection?.close();
    this.connection = undefined;
  }
}
