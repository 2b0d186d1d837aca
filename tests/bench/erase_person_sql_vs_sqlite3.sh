#!/usr/bin/env bash
# Benchmark for a person's erasure from a SQL database nobody designed for gdprctl, against what
# a user would otherwise run, in one run: a video platform's SQLite database without foreign keys
# (the schema of tests/support/tube_platform.cpp: users, accounts, videos, threaded comments,
# ratings, watch history, abuse reports and moderators' messages, notifications, tokens, follows,
# a job queue), USERS users, and one of them erased:
#   - gdprctl erase --yes (resolve the person through the links, plan with other people's rows
#     and the mentions to redact, one transaction with its row counts checked, VACUUM, the rescan
#     of every value and of the file's bytes, the signed certificate);
#   - by hand: sqlite3 running the DELETEs and UPDATEs a person who knows the schema writes (the
#     same rows by ownership, the same redactions), VACUUM, then grep -a -c for what is left.
# Both start from the same copy; the rows left in each table are compared.
#   tests/bench/erase_person_sql_vs_sqlite3.sh [USERS] [BUILD_DIR]      USERS default 100000
# Not a test: no timing is asserted anywhere. Needs: sqlite3, jq, /usr/bin/time (scripts/bootstrap).
set -euo pipefail
users=${1:-100000}
build=$(cd "${2:-$(dirname "$0")/../../build}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bob=$((users / 2 + 42))
email="u$bob@mail.example"
actor="https://social.example/users/u$bob"

sqlite3 "$work/tube.db" > /dev/null <<SQL
PRAGMA journal_mode = WAL;
CREATE TABLE "user" (id integer PRIMARY KEY, username text NOT NULL, email text NOT NULL, state text NOT NULL,
  "lastLoginIp" text, "createdAt" text);
CREATE TABLE account (id integer PRIMARY KEY, "userId" integer, name text NOT NULL, "actorUrl" text NOT NULL,
  avatar blob);
CREATE TABLE video (id integer PRIMARY KEY, "accountId" integer NOT NULL, name text NOT NULL, description text,
  "createdAt" text);
CREATE TABLE "videoComment" (id integer PRIMARY KEY, "videoId" integer NOT NULL, "accountId" integer,
  "inReplyToCommentId" integer, text text NOT NULL, "createdAt" text);
CREATE TABLE "accountVideoRate" (id integer PRIMARY KEY, "accountId" integer NOT NULL, "videoId" integer NOT NULL,
  type text NOT NULL);
CREATE TABLE "userVideoHistory" (id integer PRIMARY KEY, "userId" integer NOT NULL, "videoId" integer NOT NULL,
  "currentTime" integer, "updatedAt" text);
CREATE TABLE abuse (id integer PRIMARY KEY, "reporterAccountId" integer, "flaggedAccountId" integer,
  reason text NOT NULL, "createdAt" text);
CREATE TABLE "abuseMessage" (id integer PRIMARY KEY, "abuseId" integer NOT NULL, "accountId" integer,
  message text NOT NULL, "byModerator" integer NOT NULL);
CREATE TABLE "userNotification" (id integer PRIMARY KEY, "userId" integer NOT NULL, type integer NOT NULL,
  "videoId" integer, "commentId" integer, "abuseId" integer, read integer NOT NULL);
CREATE TABLE "oAuthToken" (id integer PRIMARY KEY, "userId" integer NOT NULL, "accessToken" text NOT NULL,
  "lastUsedIp" text, "createdAt" text);
CREATE TABLE "actorFollow" (id integer PRIMARY KEY, "actorUrl" text NOT NULL, "targetActorUrl" text NOT NULL,
  state text);
CREATE TABLE "jobQueue" (id integer PRIMARY KEY, type text, payload text);
CREATE TEMP TABLE n (i integer PRIMARY KEY);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $users * 10) INSERT INTO n SELECT i FROM c;
INSERT INTO "user" SELECT i, 'u' || i, 'u' || i || '@mail.example', 'active',
  '10.' || (i / 65536 % 256) || '.' || (i / 256 % 256) || '.' || (i % 256), '2026-01-01T00:00:00Z' FROM n WHERE i <= $users;
INSERT INTO account SELECT i, i, 'User ' || i, 'https://social.example/users/u' || i, NULL FROM n WHERE i <= $users;
INSERT INTO video SELECT i, (i * 5) % $users + 1, 'video ' || i, 'about video ' || i, '2026-02-01T00:00:00Z'
  FROM n WHERE i <= $users / 5;
INSERT INTO "videoComment" SELECT i, (i * 7) % ($users / 5) + 1, (i * 3) % $users + 1,
  CASE WHEN i % 4 = 0 THEN i - 1 END, 'comment ' || i, '2026-03-01T00:00:00Z' FROM n WHERE i <= $users * 10;
INSERT INTO "accountVideoRate" SELECT i, (i * 11) % $users + 1, (i * 13) % ($users / 5) + 1, 'like'
  FROM n WHERE i <= $users * 5;
INSERT INTO "userVideoHistory" SELECT i, (i * 17) % $users + 1, (i * 19) % ($users / 5) + 1, i % 600,
  '2026-03-02T00:00:00Z' FROM n WHERE i <= $users * 5;
INSERT INTO abuse SELECT i, (i * 23) % $users + 1, (i * 29) % $users + 1, 'reason ' || i, '2026-04-01T00:00:00Z'
  FROM n WHERE i <= $users / 10;
INSERT INTO "abuseMessage" SELECT i, (i + 1) / 2, CASE WHEN i % 2 = 0 THEN 1 ELSE (i * 31) % $users + 1 END,
  'message ' || i, i % 2 FROM n WHERE i <= $users / 5;
INSERT INTO "userNotification" SELECT i, (i * 37) % $users + 1, i % 5, (i * 41) % ($users / 5) + 1, NULL, NULL, 0
  FROM n WHERE i <= $users * 3;
INSERT INTO "oAuthToken" SELECT i, i, 'tok-' || hex(randomblob(8)), '10.' || (i / 65536 % 256) || '.' ||
  (i / 256 % 256) || '.' || (i % 256), '2026-05-01T00:00:00Z' FROM n WHERE i <= $users;
INSERT INTO "actorFollow" SELECT i, 'https://social.example/users/u' || ((i * 43) % $users + 1),
  'https://social.example/users/u' || ((i * 47) % $users + 1), 'accepted' FROM n WHERE i <= $users * 2;
INSERT INTO "jobQueue" SELECT i, 'activitypub-http-broadcast',
  '{"uri":"https://social.example/users/u' || ((i * 53) % $users + 1) || '/inbox"}' FROM n WHERE i <= $users / 10;
-- The indexes such a schema has on the columns that point at other rows.
CREATE INDEX account_user ON account ("userId"); CREATE INDEX video_account ON video ("accountId");
CREATE INDEX comment_video ON "videoComment" ("videoId"); CREATE INDEX comment_account ON "videoComment" ("accountId");
CREATE INDEX comment_reply ON "videoComment" ("inReplyToCommentId");
CREATE INDEX rate_account ON "accountVideoRate" ("accountId"); CREATE INDEX rate_video ON "accountVideoRate" ("videoId");
CREATE INDEX history_user ON "userVideoHistory" ("userId"); CREATE INDEX abuse_reporter ON abuse ("reporterAccountId");
CREATE INDEX abuse_flagged ON abuse ("flaggedAccountId"); CREATE INDEX message_abuse ON "abuseMessage" ("abuseId");
CREATE INDEX message_account ON "abuseMessage" ("accountId"); CREATE INDEX notification_user ON "userNotification" ("userId");
CREATE INDEX token_user ON "oAuthToken" ("userId"); CREATE INDEX follow_actor ON "actorFollow" ("actorUrl");
CREATE INDEX user_email ON "user" (email);
-- Someone quotes bob's address; a job is addressed to him.
UPDATE "videoComment" SET text = 'write to $email' WHERE id = 1;
INSERT INTO "jobQueue" VALUES ($users, 'email', '{"to":"$email"}');
SQL

jq -n '{platform: "tube-bench", categories: ["viewer-accounts", "comments", "moderation", "federation"],
  sources: [{name: "tube-db", kind: "sqlite", path: "tube.db",
    links: [{from: "account.userId", to: "user.id"}, {from: "video.accountId", to: "account.id"},
            {from: "videoComment.accountId", to: "account.id"}, {from: "videoComment.videoId", to: "video.id"},
            {from: "videoComment.inReplyToCommentId", to: "videoComment.id"},
            {from: "accountVideoRate.accountId", to: "account.id"}, {from: "abuse.reporterAccountId", to: "account.id"},
            {from: "abuseMessage.accountId", to: "account.id"}, {from: "abuseMessage.abuseId", to: "abuse.id"}],
    tables: [
      {table: "user", category: "viewer-accounts", subjects: {email: ["email"], user: ["id"], ip: ["lastLoginIp"]},
       personal: ["username"]},
      {table: "account", category: "viewer-accounts", owner: "userId", subjects: {user: ["actorUrl"]},
       personal: ["name", "avatar"]},
      {table: "video", category: "recordings", owner: "accountId", personal: ["name", "description"]},
      {table: "videoComment", category: "comments", owner: "accountId", personal: ["text"]},
      {table: "accountVideoRate", category: "usage-data", owner: "accountId"},
      {table: "userVideoHistory", category: "usage-data", subjects: {user: ["userId"]}},
      {table: "abuse", category: "moderation", owner: "reporterAccountId", personal: ["reason"]},
      {table: "abuseMessage", category: "moderation", owner: "accountId", personal: ["message"]},
      {table: "userNotification", category: "usage-data", subjects: {user: ["userId"]}},
      {table: "oAuthToken", category: "usage-data", subjects: {user: ["userId"], ip: ["lastUsedIp"]},
       personal: ["accessToken"]},
      {table: "actorFollow", category: "federation", subjects: {user: ["actorUrl"]}}]}]}' > "$work/gdprctl.json"
cp "$work/gdprctl.json" "$work/hand.json"
mkdir "$work/hand"
sqlite3 "$work/tube.db" "PRAGMA wal_checkpoint(TRUNCATE)" > /dev/null
cp "$work/tube.db" "$work/hand/tube.db"

# What a person who knows the schema writes: bob's rows by ownership, children first, the
# mentions of him in other people's rows replaced, in one transaction, then VACUUM.
cat > "$work/hand.sql" <<SQL
PRAGMA secure_delete = ON;
BEGIN IMMEDIATE;
CREATE TEMP TABLE bob_account AS SELECT a.id FROM account a JOIN "user" u ON u.id = a."userId" WHERE u.email = '$email';
DELETE FROM "videoComment" WHERE "accountId" IN (SELECT id FROM bob_account);
DELETE FROM "accountVideoRate" WHERE "accountId" IN (SELECT id FROM bob_account);
DELETE FROM video WHERE "accountId" IN (SELECT id FROM bob_account);
DELETE FROM "abuseMessage" WHERE "accountId" IN (SELECT id FROM bob_account);
DELETE FROM abuse WHERE "reporterAccountId" IN (SELECT id FROM bob_account);
DELETE FROM "userVideoHistory" WHERE "userId" = $bob;
DELETE FROM "userNotification" WHERE "userId" = $bob;
DELETE FROM "oAuthToken" WHERE "userId" = $bob;
DELETE FROM "actorFollow" WHERE "actorUrl" = '$actor';
DELETE FROM account WHERE id IN (SELECT id FROM bob_account);
DELETE FROM "user" WHERE id = $bob;
UPDATE "videoComment" SET text = replace(text, '$email', '[erased]') WHERE text LIKE '%$email%';
UPDATE "actorFollow" SET "targetActorUrl" = '[erased]' WHERE "targetActorUrl" = '$actor';
UPDATE "jobQueue" SET payload = replace(replace(payload, '$actor', '[erased]'), '$email', '[erased]')
  WHERE payload LIKE '%$actor%' OR payload LIKE '%$email%';
COMMIT;
VACUUM;
PRAGMA wal_checkpoint(TRUNCATE);
SQL

# Wall seconds and peak RSS (KiB) of one run.
measure() {
  /usr/bin/time -o "$work/time" -f '%e %M' "$@" > /dev/null 2>&1 || true
  tail -1 "$work/time"
}
rows() {
  sqlite3 "$1" "SELECT group_concat(n, ' ') FROM (SELECT (SELECT count(*) FROM \"user\") || ' ' ||
    (SELECT count(*) FROM \"videoComment\") || ' ' || (SELECT count(*) FROM \"actorFollow\") || ' ' ||
    (SELECT count(*) FROM \"accountVideoRate\") || ' ' || (SELECT count(*) FROM \"oAuthToken\") AS n)"
}
left_of() { cat "$1"* | grep -a -c -F -e "$email" -e "$actor" || true; }

sync
read -r hand_s hand_kb < <(measure bash -c "sqlite3 '$work/hand/tube.db' < '$work/hand.sql' && cat '$work/hand/tube.db'* | grep -a -c -F -e '$email' -e '$actor'")
read -r g_s g_kb < <(measure "$build/gdprctl" --config "$work/gdprctl.json" --format json erase --yes --subject "email:$email")
records=$("$build/gdprctl" --config "$work/gdprctl.json" --format json erase list | jq '.[-1].records')

db_bytes=$(stat -c %s "$work/hand/tube.db")
echo "database: $users users, $(( db_bytes / 1048576 )) MiB after the erasure; person: user $bob"
printf '%-60s %8s %10s\n' job seconds "peak RSS"
printf '%-60s %8s %7s MiB\n' "by hand: sqlite3 DELETE/UPDATE + VACUUM + grep -a -c" "$hand_s" "$((hand_kb / 1024))"
printf '%-60s %8s %7s MiB\n' "gdprctl erase (plan, transaction, VACUUM, rescan, certificate)" "$g_s" "$((g_kb / 1024))"
echo "records erased by gdprctl: $records"
g_rows=$(rows "$work/tube.db") hand_rows=$(rows "$work/hand/tube.db")
echo "rows left (user, videoComment, actorFollow, accountVideoRate, oAuthToken): gdprctl $g_rows, sqlite3 $hand_rows"
[ "$g_rows" = "$hand_rows" ] && echo "rows left: the same" || echo "rows left: MISMATCH"
echo "left of the person: gdprctl $(left_of "$work/tube.db"), sqlite3 $(left_of "$work/hand/tube.db")"
echo "ratio: gdprctl erase takes $(echo "scale=2; $g_s / $hand_s" | bc)x the hand-written sqlite3 script"
