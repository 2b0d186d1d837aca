#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

// A video platform's database modelled on a public open-source one (PeerTube's schema: users and
// their accounts, videos, threaded comments, ratings, watch history, abuse reports with
// moderators' messages, notifications, OAuth tokens with the address they were last used from,
// federation follows by actor IRI), not on the reference platform. Two flavours:
// - SQLite without a single foreign key: what references what is only in the data map's links;
// - PostgreSQL with the platform's own keys: ON DELETE CASCADE, SET NULL and NO ACTION (an
//   export table outside the data map), NOT NULL columns, a BLOB (bytea) avatar.
// Both hold a job queue the data map does not declare, whose payloads name people.
//
// Bob (user 2, account 12) is the person erased; alice, carol and a moderator are the others.
// Bob's e-mail is followed in its record by the next column's text ("…examplepending").
namespace gdprctl::testing::tube {

enum class Flavour { sqlite_without_keys, postgres_with_keys };

inline constexpr const char* k_bob_email = "bob@mailbox.example";
inline constexpr const char* k_bob_actor = "https://social.example/users/bob";
inline constexpr const char* k_bob_ip = "198.51.100.7";
inline constexpr const char* k_bob_token = "tok-bob-7c1d";

// DDL and rows, as one script for sqlite3 or psql.
std::string schema_and_rows(Flavour flavour);

// Bob's own rows, table by table, as a WHERE clause written independently of gdprctl (by ids):
// what his export must hold and his erasure remove, and nothing else.
const std::map<std::string, std::string>& bobs_rows();
// Bob's rows in total.
std::uint64_t bobs_row_count();

// The data map's "links" for the SQLite flavour (who points at whom; no database says it).
nlohmann::json declared_links();
// The data map's "tables": who owns which rows.
nlohmann::json tables();
// For PostgreSQL: what an erasure does to other people's rows that point at bob's (the
// platform's CASCADE keys would otherwise delete them with his video or report).
nlohmann::json rules_for_others_rows();

// A workspace config with one source of the flavour (the database at path, or the connection
// and password file) and the given links.
nlohmann::json config(Flavour flavour, const std::string& path_or_connection, const nlohmann::json& links);

}  // namespace gdprctl::testing::tube
