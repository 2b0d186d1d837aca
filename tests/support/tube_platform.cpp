#include "tests/support/tube_platform.hpp"

namespace gdprctl::testing::tube {

namespace {

// "{ref:T:ACTION}" becomes "REFERENCES T(id) ON DELETE ACTION" with keys, nothing without.
std::string with_keys(std::string sql, Flavour flavour) {
    const bool keys = flavour == Flavour::postgres_with_keys;
    for (std::size_t at; (at = sql.find("{ref:")) != std::string::npos;) {
        auto end = sql.find('}', at);
        auto spec = sql.substr(at + 5, end - at - 5);
        auto colon = spec.find(':');
        auto table = spec.substr(0, colon), action = spec.substr(colon + 1);
        sql.replace(at, end - at + 1, keys ? "REFERENCES " + table + "(id) ON DELETE " + action : "");
    }
    auto replace_all = [&](const std::string& from, const std::string& to) {
        for (std::size_t at; (at = sql.find(from)) != std::string::npos;) sql.replace(at, from.size(), to);
    };
    replace_all("{time}", keys ? "timestamptz" : "TEXT");
    replace_all("{blob}", keys ? "bytea" : "BLOB");
    return sql;
}

// The avatar: a PNG text chunk naming its author, NUL-separated as PNG writes it.
std::string avatar_literal(Flavour flavour, const std::string& email) {
    std::string bytes = std::string("\x89PNG\r\n\x1a\ntEXtAuthor", 19) + '\0' + email + '\0' + "IEND";
    static const char* k_hex = "0123456789abcdef";
    std::string hex;
    for (unsigned char c : bytes) hex += std::string{k_hex[c >> 4], k_hex[c & 15]};
    return flavour == Flavour::postgres_with_keys ? "decode('" + hex + "', 'hex')" : "X'" + hex + "'";
}

}  // namespace

std::string schema_and_rows(Flavour flavour) {
    std::string ddl = R"(
CREATE TABLE "user" (id integer PRIMARY KEY, username text NOT NULL, email text NOT NULL, state text NOT NULL,
  "lastLoginIp" text, "createdAt" {time});
CREATE TABLE account (id integer PRIMARY KEY, "userId" integer {ref:"user":CASCADE}, name text NOT NULL,
  "actorUrl" text NOT NULL, avatar {blob});
CREATE TABLE video (id integer PRIMARY KEY, "accountId" integer NOT NULL {ref:account:CASCADE}, name text NOT NULL,
  description text, "createdAt" {time});
CREATE TABLE "videoComment" (id integer PRIMARY KEY, "videoId" integer NOT NULL {ref:video:CASCADE},
  "accountId" integer {ref:account:CASCADE}, "inReplyToCommentId" integer {ref:"videoComment":CASCADE},
  text text NOT NULL, "createdAt" {time});
CREATE TABLE "accountVideoRate" (id integer PRIMARY KEY, "accountId" integer NOT NULL {ref:account:CASCADE},
  "videoId" integer NOT NULL {ref:video:CASCADE}, type text NOT NULL);
CREATE TABLE "userVideoHistory" (id integer PRIMARY KEY, "userId" integer NOT NULL {ref:"user":CASCADE},
  "videoId" integer NOT NULL {ref:video:CASCADE}, "currentTime" integer, "updatedAt" {time});
CREATE TABLE "videoView" (id integer PRIMARY KEY, "videoId" integer NOT NULL {ref:video:CASCADE},
  views integer NOT NULL, "startDate" {time});
CREATE TABLE abuse (id integer PRIMARY KEY, "reporterAccountId" integer {ref:account:SET NULL},
  "flaggedAccountId" integer {ref:account:SET NULL}, reason text NOT NULL, "createdAt" {time});
CREATE TABLE "abuseMessage" (id integer PRIMARY KEY, "abuseId" integer NOT NULL {ref:abuse:CASCADE},
  "accountId" integer {ref:account:SET NULL}, message text NOT NULL, "byModerator" integer NOT NULL);
CREATE TABLE "userNotification" (id integer PRIMARY KEY, "userId" integer NOT NULL {ref:"user":CASCADE},
  type integer NOT NULL, "videoId" integer {ref:video:CASCADE}, "commentId" integer {ref:"videoComment":CASCADE},
  "abuseId" integer {ref:abuse:CASCADE}, read integer NOT NULL);
CREATE TABLE "oAuthToken" (id integer PRIMARY KEY, "userId" integer NOT NULL {ref:"user":CASCADE},
  "accessToken" text NOT NULL, "lastUsedIp" text, "createdAt" {time});
CREATE TABLE "actorFollow" (id integer PRIMARY KEY, "actorUrl" text NOT NULL, "targetActorUrl" text NOT NULL,
  state text);
CREATE TABLE "userExport" (id integer PRIMARY KEY, "userId" integer {ref:"user":NO ACTION}, "fileName" text,
  "createdAt" {time});
CREATE TABLE "jobQueue" (id integer PRIMARY KEY, type text, payload text);
)";
    std::string rows = R"(
INSERT INTO "user" VALUES (1, 'alice', 'alice@example.org', 'active', '203.0.113.5', '2026-01-10T09:00:00Z'),
  (2, 'bob', 'bob@mailbox.example', 'pending', '198.51.100.7', '2026-02-11T10:00:00Z'),
  (3, 'carol', 'carol@example.net', 'active', '192.0.2.33', '2026-03-12T11:00:00Z'),
  (4, 'mod', 'moderation@tube.example', 'active', '192.0.2.44', '2026-01-01T08:00:00Z');
INSERT INTO account (id, "userId", name, "actorUrl") VALUES (11, 1, 'Alice A.', 'https://social.example/users/alice'),
  (13, 3, 'Carol C.', 'https://social.example/users/carol'), (14, 4, 'Moderation', 'https://social.example/users/mod');
INSERT INTO account VALUES (12, 2, 'Bob B.', 'https://social.example/users/bob', {avatar});
INSERT INTO video VALUES (101, 11, 'Alice live', 'my first stream', '2026-04-01T12:00:00Z'),
  (102, 12, 'Bob cooks', 'pasta night', '2026-04-02T12:00:00Z'),
  (103, 12, 'Bob again', NULL, '2026-04-03T12:00:00Z'),
  (104, 13, 'Carol sings', 'karaoke', '2026-04-04T12:00:00Z');
INSERT INTO "videoComment" VALUES (1001, 102, 11, NULL, 'great stream', '2026-04-02T13:00:00Z'),
  (1002, 102, 13, 1001, 'agreed!', '2026-04-02T13:05:00Z'),
  (1003, 101, 12, NULL, 'nice one', '2026-04-01T13:00:00Z'),
  (1004, 101, 11, 1003, 'thanks, I sent the recipe to bob@mailbox.example', '2026-04-01T13:10:00Z'),
  (1005, 104, 12, NULL, 'hello carol', '2026-04-04T13:00:00Z'),
  (1006, 104, 13, 1005, 'hi bob', '2026-04-04T13:02:00Z');
INSERT INTO "accountVideoRate" VALUES (2001, 11, 102, 'like'), (2002, 12, 101, 'like'), (2003, 13, 102, 'dislike'),
  (2004, 12, 104, 'like');
INSERT INTO "userVideoHistory" VALUES (3001, 1, 102, 40, '2026-04-02T14:00:00Z'),
  (3002, 2, 101, 12, '2026-04-01T14:00:00Z'), (3003, 3, 103, 7, '2026-04-03T14:00:00Z'),
  (3004, 2, 104, 3, '2026-04-04T14:00:00Z');
INSERT INTO "videoView" VALUES (4001, 101, 50, '2026-04-01T00:00:00Z'), (4002, 102, 30, '2026-04-02T00:00:00Z'),
  (4003, 103, 5, '2026-04-03T00:00:00Z'), (4004, 104, 12, '2026-04-04T00:00:00Z');
INSERT INTO abuse VALUES (501, 12, 13, 'spam in the comments', '2026-05-01T09:00:00Z'),
  (502, 13, 12, 'rude replies', '2026-05-02T09:00:00Z');
INSERT INTO "abuseMessage" VALUES (601, 501, 12, 'please look at this', 0),
  (602, 501, 14, 'we are looking into it', 1), (603, 502, 14, 'warning sent', 1);
INSERT INTO "userNotification" VALUES (701, 1, 1, 102, NULL, NULL, 0), (702, 2, 1, 101, NULL, NULL, 1),
  (703, 1, 2, NULL, 1003, NULL, 0), (704, 2, 3, NULL, NULL, 501, 0), (705, 4, 4, NULL, NULL, 502, 0);
INSERT INTO "oAuthToken" VALUES (801, 1, 'tok-alice-3f9a', '203.0.113.5', '2026-06-01T08:00:00Z'),
  (802, 2, 'tok-bob-7c1d', '198.51.100.7', '2026-06-02T08:00:00Z'),
  (803, 2, 'tok-bob-88e2', '198.51.100.7', '2026-06-03T08:00:00Z');
INSERT INTO "actorFollow" VALUES (901, 'https://social.example/users/alice', 'https://social.example/users/bob', 'accepted'),
  (902, 'https://social.example/users/bob', 'https://social.example/users/carol', 'accepted'),
  (903, 'https://social.example/users/carol', 'https://social.example/users/alice', 'pending');
INSERT INTO "userExport" VALUES (951, 2, 'export-2-2026-06.zip', '2026-06-05T10:00:00Z');
INSERT INTO "jobQueue" VALUES (961, 'activitypub-http-broadcast', '{"uri":"https://social.example/users/bob/inbox","body":"Follow"}'),
  (962, 'activitypub-http-broadcast', '{"uri":"https://social.example/users/alice/inbox","body":"Like"}'),
  (963, 'email', '{"to":"bob@mailbox.example","subject":"Your export is ready"}');
)";
    auto at = rows.find("{avatar}");
    rows.replace(at, 8, avatar_literal(flavour, k_bob_email));
    return with_keys(ddl, flavour) + rows;
}

const std::map<std::string, std::string>& bobs_rows() {
    static const std::map<std::string, std::string> k_rows = {
        {"user", "id = 2"},
        {"account", "id = 12"},
        {"video", "id IN (102, 103)"},
        {"videoComment", "id IN (1003, 1005)"},
        {"accountVideoRate", "id IN (2002, 2004)"},
        {"userVideoHistory", "id IN (3002, 3004)"},
        {"abuse", "id = 501"},
        {"abuseMessage", "id = 601"},
        {"userNotification", "id IN (702, 704)"},
        {"oAuthToken", "id IN (802, 803)"},
        {"actorFollow", "id = 902"},
    };
    return k_rows;
}

std::uint64_t bobs_row_count() { return 17; }

nlohmann::json declared_links() {
    auto link = [](const char* from, const char* to) { return nlohmann::json{{"from", from}, {"to", to}}; };
    return {link("account.userId", "user.id"),
            link("video.accountId", "account.id"),
            link("videoComment.accountId", "account.id"),
            link("videoComment.videoId", "video.id"),
            link("videoComment.inReplyToCommentId", "videoComment.id"),
            link("accountVideoRate.accountId", "account.id"),
            link("accountVideoRate.videoId", "video.id"),
            link("abuse.reporterAccountId", "account.id"),
            link("abuse.flaggedAccountId", "account.id"),
            link("abuseMessage.abuseId", "abuse.id"),
            link("abuseMessage.accountId", "account.id")};
}

nlohmann::json tables() {
    auto table = [](const char* name, const char* category) {
        return nlohmann::json{{"table", name}, {"category", category}};
    };
    auto user = table("user", "viewer-accounts");
    user["subjects"] = {{"email", {"email"}}, {"user", {"id"}}, {"ip", {"lastLoginIp"}}};
    user["personal"] = {"username"};
    user["timestamp"] = {{"column", "createdAt"}};
    auto account = table("account", "viewer-accounts");
    account["owner"] = "userId";
    account["subjects"] = {{"user", {"actorUrl"}}};
    account["personal"] = {"name", "avatar"};
    auto video = table("video", "recordings");
    video["owner"] = "accountId";
    video["personal"] = {"name", "description"};
    auto comment = table("videoComment", "comments");
    comment["owner"] = "accountId";
    comment["personal"] = {"text"};
    // Ratings hold no personal column: they are a person's through their account alone.
    auto rate = table("accountVideoRate", "usage-data");
    rate["owner"] = "accountId";
    auto history = table("userVideoHistory", "usage-data");
    history["subjects"] = {{"user", {"userId"}}};
    auto abuse = table("abuse", "moderation");
    abuse["owner"] = "reporterAccountId";
    abuse["personal"] = {"reason"};
    auto message = table("abuseMessage", "moderation");
    message["owner"] = "accountId";
    message["personal"] = {"message"};
    auto notification = table("userNotification", "usage-data");
    notification["subjects"] = {{"user", {"userId"}}};
    auto token = table("oAuthToken", "usage-data");
    token["subjects"] = {{"user", {"userId"}}, {"ip", {"lastUsedIp"}}};
    token["personal"] = {"accessToken"};
    auto follow = table("actorFollow", "federation");
    follow["subjects"] = {{"user", {"actorUrl"}}};
    return {user, account, video, comment, rate, history, abuse, message, notification, token, follow};
}

nlohmann::json rules_for_others_rows() {
    auto rule = [](const char* from, const char* to, const char* on_erase) {
        return nlohmann::json{{"from", from}, {"to", to}, {"on_erase", on_erase}};
    };
    return {// Other people's comments, ratings, views and watch history of bob's videos go with them.
            rule("videoComment.videoId", "video.id", "delete"), rule("accountVideoRate.videoId", "video.id", "delete"),
            rule("userVideoHistory.videoId", "video.id", "delete"), rule("videoView.videoId", "video.id", "delete"),
            // Replies to bob's comments stay, no longer a reply to anything.
            rule("videoComment.inReplyToCommentId", "videoComment.id", "detach"),
            // The moderators' messages on bob's report go with it; notifications stay.
            rule("abuseMessage.abuseId", "abuse.id", "delete"), rule("userNotification.videoId", "video.id", "detach"),
            rule("userNotification.commentId", "videoComment.id", "detach"),
            rule("userNotification.abuseId", "abuse.id", "detach"),
            // Bob's exports (a table the data map leaves out) go with him.
            rule("userExport.userId", "user.id", "delete")};
}

nlohmann::json config(Flavour flavour, const std::string& path_or_connection, const nlohmann::json& links) {
    nlohmann::json source = {{"name", "tube-db"}, {"tables", tables()}};
    if (flavour == Flavour::postgres_with_keys) {
        source["kind"] = "postgres";
        source["connection"] = path_or_connection;
        source["password_file"] = "pgpassword";
    } else {
        source["kind"] = "sqlite";
        source["path"] = path_or_connection;
    }
    if (!links.empty()) source["links"] = links;
    return {{"platform", "tube"},
            {"categories", {"viewer-accounts", "comments", "moderation", "federation"}},
            {"sources", {source}}};
}

}  // namespace gdprctl::testing::tube
