// The workflow types the worker registers (workflowsPath points here).
export { MultiDatabaseMigration } from './multi-database-migration';
export { DatabaseMigration } from './database-migration';
