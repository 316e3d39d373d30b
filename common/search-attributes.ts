// Search attributes the workflows set and the dev server registers.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const MIGRATION_ID = defineSearchAttributeKey('MigrationId', SearchAttributeType.KEYWORD);
export const DATABASE_NAME = defineSearchAttributeKey('DatabaseName', SearchAttributeType.KEYWORD);
export const MIGRATION_STATE = defineSearchAttributeKey('MigrationState', SearchAttributeType.KEYWORD);

export const PLATFORM = defineSearchAttributeKey('Platform', SearchAttributeType.KEYWORD);

export const ALL_SEARCH_ATTRIBUTES = [MIGRATION_ID, DATABASE_NAME, MIGRATION_STATE, PLATFORM];
