// The SQL Server source side of the gcp platform (activities/platforms/gcp/sqlserver): the backup
// bucket read through the fake's Cloud Storage JSON API with the real client, the meaning of the
// source's catalog rows (realistic rows, as SQL Server 2019/2022 answer the queries in tds-sql.ts),
// and the tail-log backup's sequence against a scripted TDS session. There is no SQL Server here:
// what reaches a real server is the SQL text and the driver's connect path (tested against a
// closed port for rule 8); the server's own execution of the batches is not exercised.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { MigrationError } from '../common/failures';
import { GcpClients } from '../activities/platforms/gcp/clients';
import { assessSqlServerSource } from '../activities/platforms/gcp/sqlserver/assess';
import { evaluateBucket, readBackupBucket, tailLogArrived } from '../activities/platforms/gcp/sqlserver/backups';
import { classify, DEFAULT_BACKUP_FILE_PATTERN, logNameReader } from '../activities/platforms/gcp/sqlserver/naming';
import { sqlServerBackups } from '../activities/platforms/gcp/sqlserver/plan';
import {
  disarmBeforePromote,
  reopenSource,
  takeTailLogBackup,
  type TailLogRecord,
} from '../activities/platforms/gcp/sqlserver/tail-log';
import { AGENT_SLACK_MS } from '../activities/platforms/gcp/sqlserver/tail-log-sql';
import { evaluateSqlServer, readChain } from '../activities/platforms/gcp/sqlserver/tds-facts';
import { openTds, scrubbed } from '../activities/platforms/gcp/sqlserver/tds-session';
import type { DatabaseTask } from '../activities/steps';
import { backup, CHAIN, HEALTHY_DB, scriptedSqlServer, SERVER_2019, type Script } from './helpers/scripted-sqlserver';
import { createFakeGcp, fakeAuth, putBucket, putObject, type FakeGcp } from './fakes/gcp';

const NOW = Date.parse('2026-12-07T15:00:00Z');
const sec = (ms: number) => Math.floor(ms / 1000);
/** The scripted server, on the tests' clock. */
const scripted = (script: Script) => scriptedSqlServer({ now: () => NOW, ...script });

function task(over: { access?: 'direct' | 'dms-only'; backups?: object; host?: string; port?: number } = {}) {
  return {
    migrationId: 'm-20',
    platform: 'gcp',
    database: {
      name: 'sales',
      engine: 'sqlserver',
      source: {
        host: over.host ?? '203.0.113.40',
        port: over.port ?? 1433,
        database: 'sales',
        user: 'migrator',
        passwordRef: 'env:MSSQL_TEST_PASSWORD',
        access: over.access ?? 'direct',
      },
      target: { kind: 'cloudsql', instance: 'sales-mssql' },
      backups: over.backups ?? { bucket: 'mssql-backups' },
    },
    settings: {},
    gcp: { project: 'p', region: 'us-central1' },
  } as unknown as DatabaseTask;
}

describe('backup file naming (DMS export-backup-files, storage-buckets)', () => {
  test('backupFilePattern: the timestamp group, the dated group set, and a pattern with neither', () => {
    const unix = logNameReader(DEFAULT_BACKUP_FILE_PATTERN);
    assert.ok(!('error' in unix));
    assert.equal(unix.read('sales.1691448254.trn'), 1691448254000);
    assert.equal(unix.read('sales.trn'), undefined);
    const dated = logNameReader(
      '(?<db>.*)_backup_(?<yyyy>\\d{4})(?<mm>\\d{2})(?<dd>\\d{2})_(?<hh>\\d{2})(?<mi>\\d{2})(?<ss>\\d{2})\\.trn',
    );
    assert.ok(!('error' in dated));
    assert.equal(dated.read('TestDB_backup_20230802_155400.trn'), Date.parse('2023-08-02T15:54:00Z'));
    const neither = logNameReader('(?<db>.*)\\.trn');
    assert.ok('error' in neither && /neither capture group set/.test(neither.error));
  });

  test('classify: a single full backup, stripes in full/<epoch>/, logs, and what DMS would not read', () => {
    const p = 'sales/';
    const { files, misnamed } = classify(
      p,
      [
        { name: 'sales/full/sales.1700000000.bak', size: 10 },
        { name: 'sales/full/1700086400/sales_1.bak', size: 5 },
        { name: 'sales/full/1700086400/sales_2.bak', size: 5 },
        { name: 'sales/log/sales.1700090000.trn', size: 1 },
        { name: 'sales/log/notes.txt', size: 1 },
        { name: 'sales/full/latest.bak', size: 1 },
        { name: 'sales/readme', size: 1 },
        { name: 'sales/log/', size: 0 },
      ],
      (logNameReader(DEFAULT_BACKUP_FILE_PATTERN) as { read: (f: string) => number | undefined }).read,
    );
    assert.deepEqual(
      files.map((f) => [f.kind, f.name.split('/').pop(), sec(f.takenAt), f.stripeSet ? 'stripe' : '']),
      [
        ['full', 'sales.1700000000.bak', 1700000000, ''],
        ['full', 'sales_1.bak', 1700086400, 'stripe'],
        ['full', 'sales_2.bak', 1700086400, 'stripe'],
        ['log', 'sales.1700090000.trn', 1700090000, ''],
      ],
    );
    assert.deepEqual(
      misnamed.map((m) => m.name),
      ['sales/log/notes.txt', 'sales/full/latest.bak', 'sales/readme'],
    );
  });

  test('prefix defaults to the database folder; gcsPrefix is its parent; tailLog by access', () => {
    assert.deepEqual(sqlServerBackups(task()), {
      bucket: 'mssql-backups',
      prefix: 'sales/',
      gcsPrefix: '',
      folder: 'sales',
      tailLog: 'worker',
    });
    const b = sqlServerBackups(task({ access: 'dms-only', backups: { bucket: 'b', prefix: 'prod/sql1/sales' } }));
    assert.deepEqual(
      [b.prefix, b.gcsPrefix, b.folder, b.tailLog],
      ['prod/sql1/sales/', 'prod/sql1/', 'sales', 'operator'],
    );
    assert.throws(
      () => sqlServerBackups(task({ backups: {} })),
      (e: MigrationError) => e.type === 'InvalidPlan',
    );
    const shipped = sqlServerBackups(task({ backups: { bucket: 'b', tailLogDirectory: 'D:\\LogShip' } }));
    assert.equal(shipped.tailLogDirectory, 'D:\\LogShip');
  });
});

describe('the backup bucket, read through the fake Cloud Storage API', () => {
  let fake: FakeGcp;
  let clients: GcpClients;
  before(async () => {
    fake = createFakeGcp().fake;
    clients = new GcpClients({ endpoint: await fake.start(), authClient: fakeAuth() });
    putBucket(fake, 'mssql-backups', 'US-CENTRAL1');
    putBucket(fake, 'far-away', 'EUROPE-WEST1');
    putObject(fake, 'mssql-backups', `sales/full/sales.${sec(NOW - 86_400_000)}.bak`, 'full');
    for (const minutesAgo of [60, 45, 30, 15, 5])
      putObject(fake, 'mssql-backups', `sales/log/sales.${sec(NOW - minutesAgo * 60_000)}.trn`, 'log');
    putObject(fake, 'mssql-backups', 'sales/log/sales.manual.trn', 'log');
    putObject(fake, 'mssql-backups', `hr/full/hr.${sec(NOW - 86_400_000)}.bak`, 'full');
    putObject(fake, 'mssql-backups', `hr/log/hr.${sec(NOW - 5 * 3_600_000)}.trn`, 'log');
  });
  after(async () => {
    await clients.close();
    await fake.stop();
  });

  const read = (t: DatabaseTask) => readBackupBucket(clients.storage, sqlServerBackups(t), DEFAULT_BACKUP_FILE_PATTERN);
  const codes = (f: { code: string; severity: string }[]) => f.map((x) => `${x.severity}:${x.code}`);

  test('a full backup and log backups arriving: the newest log time, and the misnamed file named', async () => {
    const r = await read(task());
    assert.equal(r.full?.files.length, 1);
    assert.equal(r.logs.length, 5);
    assert.equal(r.newestLogAt, NOW - 5 * 60_000 - ((NOW - 5 * 60_000) % 1000));
    const f = evaluateBucket(r, { database: 'sales', region: 'us-central1', now: NOW });
    assert.deepEqual(codes(f), [
      'info:FULL_BACKUP_PRESENT',
      'info:LOG_BACKUPS_ARRIVING',
      'warning:BACKUP_FILE_MISNAMED',
    ]);
    assert.match(f[1].message, /5 log backup\(s\).*\(5 min ago\)/);
    assert.match(f[2].message, /sales\/log\/sales\.manual\.trn does not match/);
  });

  test('log backups that stopped arriving, a missing full backup, a folder not named after the database', async () => {
    const hr = evaluateBucket(await read(task({ backups: { bucket: 'mssql-backups', prefix: 'hr' } })), {
      database: 'hr',
      region: 'us-central1',
      now: NOW,
    });
    assert.deepEqual(codes(hr), ['info:FULL_BACKUP_PRESENT', 'warning:LOG_BACKUPS_STALE']);
    const wrong = evaluateBucket(await read(task({ backups: { bucket: 'mssql-backups', prefix: 'hr' } })), {
      database: 'sales',
      now: NOW,
    });
    assert.ok(codes(wrong).includes('error:BACKUP_FOLDER_NOT_DATABASE'));
    const empty = evaluateBucket(await read(task({ backups: { bucket: 'mssql-backups', prefix: 'crm' } })), {
      database: 'crm',
      now: NOW,
    });
    assert.deepEqual(codes(empty), ['error:FULL_BACKUP_MISSING']);
  });

  test('a bucket in another region, and one that does not exist', async () => {
    const far = evaluateBucket(await read(task({ backups: { bucket: 'far-away' } })), {
      database: 'sales',
      region: 'us-central1',
      now: NOW,
    });
    assert.deepEqual(codes(far), ['error:BACKUP_BUCKET_REGION', 'error:FULL_BACKUP_MISSING']);
    const none = evaluateBucket(await read(task({ backups: { bucket: 'nope' } })), { database: 'sales', now: NOW });
    assert.deepEqual(codes(none), ['error:BACKUP_BUCKET_MISSING']);
  });

  test('the tail-log backup is seen once it is in the bucket, whoever put it there', async () => {
    const name = `sales/log/sales.${sec(NOW)}.trn`;
    assert.deepEqual(await tailLogArrived(clients.storage, 'mssql-backups', name), { arrived: false });
    const before = Date.now();
    putObject(fake, 'mssql-backups', name, 'tail');
    const seen = await tailLogArrived(clients.storage, 'mssql-backups', name);
    assert.ok(seen.arrived && seen.size === 4, JSON.stringify(seen));
    // When its upload finished (timeCreated), which is what the cutover waits for DMS to restore after.
    assert.ok(
      seen.uploadedAt.getTime() >= before - 1000 && seen.uploadedAt.getTime() <= Date.now(),
      String(seen.uploadedAt),
    );
    const r = await read(task());
    assert.equal(r.newestLogAt, sec(NOW) * 1000, 'and it is the newest log backup');
    fake.resources.delete(`gcs/o/mssql-backups/${name}`);
  });

  test('dms-only: the bucket is the whole assessment, and no TDS session is opened', async () => {
    const result = await assessSqlServerSource(task({ access: 'dms-only' }), {
      storage: clients.storage,
      now: () => NOW,
      open: () => assert.fail('dms-only must not connect'),
    });
    assert.equal(result.blocked, false);
    assert.ok(result.findings.some((f) => f.code === 'SOURCE_NOT_REACHED_BY_WORKER'));
    assert.ok(result.findings.some((f) => f.code === 'LOG_BACKUPS_ARRIVING'));
  });

  test('direct: the bucket and the source together, over one scripted TDS session', async () => {
    const s = scripted({ server: SERVER_2019, database: HEALTHY_DB, chain: CHAIN });
    const result = await assessSqlServerSource(task(), {
      storage: clients.storage,
      now: () => NOW,
      open: async () => s,
      tailLogDirectory: 'D:\\LogShip',
    });
    assert.equal(result.serverVersion, '15.0.4375.4');
    assert.deepEqual(
      result.findings.filter((f) => f.severity !== 'info').map((f) => f.code),
      ['BACKUP_FILE_MISNAMED'],
    );
    assert.equal(result.blocked, false);
    assert.ok(s.closed);
  });
});

describe("the source's catalog rows (tds-facts.ts)", () => {
  const judge = { database: 'sales', workerTakesTailLog: true, tailLogTo: 'disk' as const };
  const codes = (f: { code: string }[]) => f.map((x) => x.code);

  test('a healthy 2019 source: FULL recovery, an unbroken chain, what the tail-log needs: no finding', () => {
    assert.deepEqual(codes(evaluateSqlServer({ server: SERVER_2019, database: HEALTHY_DB, chain: CHAIN }, judge)), []);
    const chain = readChain(CHAIN);
    assert.equal(chain.logs.length, 3, 'the log backup before the full backup is not part of the chain');
    assert.equal(chain.gap, undefined);
  });

  test('a log backup missing from the chain is found, with the two backups it lies between', () => {
    const broken = [...CHAIN.slice(0, 3), ...CHAIN.slice(4)];
    const f = evaluateSqlServer({ server: SERVER_2019, database: HEALTHY_DB, chain: broken }, judge);
    assert.deepEqual(codes(f), ['LOG_CHAIN_BROKEN']);
    assert.match(
      f[0].message,
      /after the log backup of 2026-12-07T14:00:00.000Z.*14:30.*37000000021600001.*37000000020800001/,
    );
    // The first log backup must hold the full backup's last LSN.
    const late = [CHAIN[0], backup('L', '2026-12-07T14:00:00Z', '37000000014000001', '37000000020800001')];
    assert.deepEqual(codes(evaluateSqlServer({ server: SERVER_2019, database: HEALTHY_DB, chain: late }, judge)), [
      'LOG_CHAIN_BROKEN',
    ]);
  });

  test('SIMPLE recovery, TDE, encrypted backups, no full backup: each refused by name', () => {
    const simple = { ...HEALTHY_DB, recovery_model_desc: 'SIMPLE' };
    assert.deepEqual(codes(evaluateSqlServer({ server: SERVER_2019, database: simple, chain: [] }, judge)), [
      'RECOVERY_MODEL_SIMPLE',
      'FULL_BACKUP_NEVER_TAKEN',
    ]);
    const tde = { ...HEALTHY_DB, is_encrypted: true, encryption_state: 3 };
    const encrypted = CHAIN.map((r) => ({ ...r, key_algorithm: 'aes_256', encryptor_type: 'CERTIFICATE' }));
    assert.deepEqual(codes(evaluateSqlServer({ server: SERVER_2019, database: tde, chain: encrypted }, judge)), [
      'TDE_ENCRYPTED',
      'ENCRYPTED_BACKUPS',
    ]);
  });

  test('a 2022 source onto a 2019 target, Express without Agent, a user without the tail-log rights', () => {
    const s2022 = { ...SERVER_2019, product_version: '16.0.4135.4' };
    assert.deepEqual(
      codes(evaluateSqlServer({ server: s2022, database: HEALTHY_DB, chain: CHAIN }, { ...judge, targetMajor: 15 })),
      ['TARGET_OLDER_THAN_SOURCE'],
    );
    const express = { ...SERVER_2019, engine_edition: 4, edition: 'Express Edition (64-bit)', agent_status: null };
    const f = evaluateSqlServer({ server: express, database: HEALTHY_DB, chain: CHAIN }, judge);
    assert.deepEqual(codes(f), ['AGENT_NOT_RUNNING']);
    assert.match(f[0].message, /not part of Express/);
    const weak = { ...SERVER_2019, is_dbcreator: 0, can_kill: 0 };
    const w = evaluateSqlServer({ server: weak, database: HEALTHY_DB, chain: CHAIN }, judge);
    assert.deepEqual(codes(w), ['TAIL_LOG_PRIVILEGES']);
    assert.match(w[0].message, /RESTORE.*ALTER ANY CONNECTION/);
    // A 2022 source writing the tail to the bucket by URL needs the operator's server credential.
    const url = evaluateSqlServer(
      { server: s2022, database: HEALTHY_DB, chain: CHAIN, urlCredential: null },
      { ...judge, tailLogTo: 'url' },
    );
    assert.deepEqual(codes(url), ['TAIL_LOG_CREDENTIAL_MISSING']);
    // Without the worker taking the tail-log, none of its needs are findings.
    assert.deepEqual(
      codes(
        evaluateSqlServer(
          { server: express, database: HEALTHY_DB, chain: CHAIN },
          { ...judge, workerTakesTailLog: false },
        ),
      ),
      [],
    );
  });
});

describe('the tail-log backup (tail-log.ts) against a scripted session', () => {
  const backups = () => sqlServerBackups(task());
  const opts = { deadline: NOW + 10 * 60_000, now: () => NOW };

  test('2022: the deadline is armed before the close, the tail goes to the bucket by URL, msdb proves it', async () => {
    const s = scripted({ server: { ...SERVER_2019, product_version: '16.0.4135.4' }, database: HEALTHY_DB });
    const rec = await takeTailLogBackup(s, task(), backups(), opts);
    assert.deepEqual(s.sent, ['server', 'database', 'arm', 'backup', 'tail-record']);
    assert.equal(rec.objectName, `sales/log/sales.${sec(NOW)}.trn`);
    assert.deepEqual(rec.destination, {
      kind: 'url',
      url: `s3://storage.googleapis.com/mssql-backups/sales/log/sales.${sec(NOW)}.trn`,
    });
    assert.equal(rec.lastLsn, '37000000023200001');
    assert.equal(s.state(), 'RESTORING');
    // Disarmed while still closed: the promote may be asked for.
    assert.equal(await disarmBeforePromote(s, rec), 'closed');
  });

  test('a schedule the server puts after the deadline is refused before anything is closed', async () => {
    const s = scripted({ server: SERVER_2019, database: HEALTHY_DB });
    const rec = await takeTailLogBackup(s, task(), backups(), { ...opts, directory: 'D:\\LogShip\\' });
    assert.deepEqual(rec.destination, { kind: 'disk', path: `D:\\LogShip\\sales.${sec(NOW)}.trn` });
    // The plan's backups.tailLogDirectory is the default folder.
    const fromPlan = sqlServerBackups(
      task({ backups: { bucket: 'mssql-backups', tailLogDirectory: '/var/opt/mssql/ship' } }),
    );
    const rec2 = await takeTailLogBackup(
      scripted({ server: SERVER_2019, database: HEALTHY_DB }),
      task(),
      fromPlan,
      opts,
    );
    assert.deepEqual(rec2.destination, { kind: 'disk', path: `/var/opt/mssql/ship/sales.${sec(NOW)}.trn` });
    const late = scripted({ server: SERVER_2019, database: HEALTHY_DB, scheduleOffset: AGENT_SLACK_MS / 1000 + 5 });
    await assert.rejects(takeTailLogBackup(late, task(), backups(), { ...opts, directory: 'D:\\LogShip' }), (e) => {
      assert.equal((e as MigrationError).type, 'CutoverNotReady');
      assert.match((e as Error).message, /after the deadline; nothing was closed/);
      return true;
    });
    assert.deepEqual(late.sent, ['server', 'database', 'arm', 'disarm']);
    assert.equal(late.state(), 'ONLINE');
  });

  test('too little time left: nothing is armed or closed; before 2022 without a folder: refused by name', async () => {
    const s = scripted({ server: SERVER_2019, database: HEALTHY_DB });
    await assert.rejects(
      takeTailLogBackup(s, task(), backups(), {
        deadline: NOW + AGENT_SLACK_MS + 10_000,
        now: () => NOW,
        directory: 'D:\\x',
      }),
      (e) => (e as MigrationError).type === 'CutoverNotReady',
    );
    assert.deepEqual(s.sent, ['server', 'database']);
    await assert.rejects(
      takeTailLogBackup(scripted({ server: SERVER_2019, database: HEALTHY_DB }), task(), backups(), opts),
      (e) => (e as MigrationError).type === 'InvalidPlan' && /tailLogDirectory/.test((e as Error).message),
    );
  });

  test('a backup that fails before closing disarms the job and leaves the source open', async () => {
    const s = scripted({ server: SERVER_2019, database: HEALTHY_DB, backup: 'fails' });
    await assert.rejects(
      takeTailLogBackup(s, task(), backups(), { ...opts, directory: 'D:\\LogShip' }),
      (e) => (e as MigrationError).type === 'CutoverNotReady' && /not closed/.test((e as Error).message),
    );
    assert.deepEqual(s.sent, ['server', 'database', 'arm', 'backup', 'database', 'disarm']);
    assert.equal(s.state(), 'ONLINE');
  });

  test('an answer lost after the close is read forward from msdb; a retry never backs up again', async () => {
    const s = scripted({ server: SERVER_2019, database: HEALTHY_DB, backup: 'answer-lost' });
    const rec = await takeTailLogBackup(s, task(), backups(), { ...opts, directory: 'D:\\LogShip' });
    assert.deepEqual(s.sent, ['server', 'database', 'arm', 'backup', 'database', 'tail-record']);
    assert.equal(rec.firstLsn, '37000000022400001');
    s.sent.length = 0;
    const again = await takeTailLogBackup(s, task(), backups(), {
      ...opts,
      directory: 'D:\\LogShip',
      now: () => NOW + 60_000,
    });
    assert.deepEqual(s.sent, ['server', 'database', 'newest-log', 'job-state', 'tail-record']);
    assert.equal(again.objectName, rec.objectName, 'the same tail-log file, not a second one');
  });

  test('reopen only where still closed; a deadline that came first reads "reopened"', async () => {
    const s = scripted({ server: SERVER_2019, database: HEALTHY_DB });
    const rec: TailLogRecord = await takeTailLogBackup(s, task(), backups(), { ...opts, directory: 'D:\\LogShip' });
    assert.equal(await reopenSource(s, rec, { promote: 'refused' }), 'reopened');
    assert.equal(s.state(), 'ONLINE');
    assert.equal(await reopenSource(s, rec, { promote: 'refused' }), 'already-open');
    // The Agent job reopened it at the deadline before the disarm: the promote must not be asked for.
    assert.equal(await disarmBeforePromote(s, rec), 'reopened');
  });
});

describe('rule 8: the TDS driver path never carries the password out', () => {
  test('a refused connection through the real mssql driver: no password in the error', async () => {
    const server = net.createServer((c) => c.destroy());
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    const port = (server.address() as net.AddressInfo).port;
    process.env.MSSQL_TEST_PASSWORD = 'pa55-Secret-word';
    try {
      const err = await openTds(task({ host: '127.0.0.1', port }), { connectTimeoutMs: 5000 }).then(
        () => assert.fail('connected to a server that hangs up'),
        (e: unknown) => e,
      );
      assert.equal((err as Error).name, 'TdsError');
      assert.ok(!JSON.stringify(err).includes('pa55-Secret-word'));
      assert.ok(!String((err as Error).message).includes('pa55-Secret-word'));
    } finally {
      server.close();
    }
    const e = scrubbed(
      Object.assign(new Error("Login failed for 'migrator' with 'pa55-Secret-word'"), { number: 18456 }),
      ['pa55-Secret-word'],
    );
    assert.equal(e.message, "Login failed for 'migrator' with '***'");
    assert.equal(e.number, 18456);
  });
});
