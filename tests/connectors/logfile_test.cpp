#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <tuple>

#include "connectors/connector.hpp"
#include "connectors/logfile/line_format.hpp"
#include "connectors/logfile/line_reader.hpp"
#include "core/error.hpp"
#include "tests/support/fault_progress.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::connectors::logfile {
namespace {

using gdprctl::testing::TempDir;
using gdprctl::testing::write_text;

std::unique_ptr<Connector> open_log(const TempDir& dir, const nlohmann::json& source, config::Workspace& workspace) {
    nlohmann::json config = {{"platform", "p"}, {"sources", {source}}};
    write_text(dir / "gdprctl.json", config.dump());
    workspace = config::load_workspace(dir / "gdprctl.json");
    auto connector = open_connector(workspace.sources.front(), workspace);
    connector->validate();
    return connector;
}

std::uint64_t total(const SourceInventory& inventory) {
    std::uint64_t n = 0;
    for (const auto& row : inventory.rows) n += row.records;
    return n;
}

TEST(LineFormat, SplitsCombinedFormatFields) {
    LineFormat format(*LineFormat::named_format("combined"));
    std::vector<std::string_view> fields;
    ASSERT_TRUE(
        format.parse(R"(192.0.2.1 - - [23/Nov/2026:15:25:10 +0000] "GET /a HTTP/1.1" 200 5 "-" "UA \x22quoted\x22")",
                     fields, format.variables().size() - 1));
    EXPECT_EQ(fields[*format.variable_index("request")], "GET /a HTTP/1.1");
    EXPECT_EQ(fields[*format.variable_index("http_user_agent")], "UA \\x22quoted\\x22");
    EXPECT_FALSE(format.parse("192.0.2.1 - - [23/Nov/20", fields, format.variables().size() - 1));
}

TEST(LineFormat, RejectsTouchingVariables) {
    EXPECT_THROW(LineFormat("$remote_addr$remote_user"), std::invalid_argument);
}

TEST(LogfileConnector, ReadsNginxRtmpAccessLogWithTenantFromTheApplication) {
    TempDir dir;
    write_text(dir / "rtmp.log",
               "127.0.0.1 [23/Nov/2026:15:25:13 +0000] PLAY \"acme\" \"show1\" \"token=viewer42\" - 453 45411 \"\" "
               "\"LNX 9,0,124,2\" (2s)\n"
               "127.0.0.1 [23/Nov/2026:15:25:15 +0000] PUBLISH \"acme\" \"show1\" \"key=abc123\" - 218982 529 \"\" "
               "\"FMLE/3.0 (compatible; Lavf59.27\" (10s)\n"
               "127.0.0.1 [23/Nov/2026:15:25:16 +0000] PUBLISH \"globex\" \"show2\" \"key=WRONG\" - 376 292 \"\" "
               "\"FMLE/3.0 (compatible; Lavf59.27\" (0s)\n");
    config::Workspace workspace;
    auto connector = open_log(dir,
                              {{"name", "rtmp"},
                               {"kind", "logfile"},
                               {"path", "rtmp.log"},
                               {"format", "rtmp"},
                               {"category", "usage-data"},
                               {"subjects", {{"ip", "remote_addr"}}},
                               {"personal", {"args"}},
                               {"tenant", {{"field", "app"}}}},
                              workspace);
    auto inventory = connector->inventory({}, {});
    ASSERT_EQ(inventory.rows.size(), 2u);
    EXPECT_EQ(inventory.rows[0].tenant, "acme");
    EXPECT_EQ(inventory.rows[0].records, 2u);
    EXPECT_EQ(*inventory.rows[0].newest, 1795447515);
    EXPECT_EQ(inventory.malformed, 0u);
}

TEST(LogfileConnector, FindsIpv6ViewersBehindAProxyInXForwardedFor) {
    TempDir dir;
    write_text(
        dir / "access.log",
        "198.51.100.250 - - [23/Nov/2026:15:25:10 +0000] \"GET /hls/acme/a.ts HTTP/1.1\" \"192.0.2.9, 2001:DB8::0:7\"\n"
        "198.51.100.250 - - [23/Nov/2026:15:25:11 +0000] \"GET /hls/acme/b.ts HTTP/1.1\" \"192.0.2.10\"\n");
    config::Workspace workspace;
    auto connector =
        open_log(dir,
                 {{"name", "web"},
                  {"kind", "logfile"},
                  {"path", "access.log"},
                  {"format", "$remote_addr - $remote_user [$time_local] \"$request\" \"$http_x_forwarded_for\""},
                  {"category", "usage-data"},
                  {"subjects", {{"ip", {"remote_addr", "http_x_forwarded_for"}}}},
                  {"tenant", {{"field", "request"}, {"regex", "^GET /hls/([^/]+)/"}}}},
                 workspace);
    Selector selector;
    selector.subjects = {parse_identifier("ip:2001:db8::7")};
    EXPECT_EQ(total(connector->inventory(selector, {})), 1u);
    selector.subjects = {parse_identifier("ip:198.51.100.250")};
    EXPECT_EQ(total(connector->inventory(selector, {})), 2u);
}

TEST(LogfileConnector, CountsMalformedLinesAndGoesOn) {
    TempDir dir;
    write_text(dir / "access.log",
               "192.0.2.1 - - [23/Nov/2026:15:25:10 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"UA\"\n"
               "garbage that is no log line\n"
               "192.0.2.1 - - [99/Nov/2026:15:25:10 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"UA\"\n"
               "192.0.2.2 - - [23/Nov/2026:15:25:11 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"UA\"");  // no final newline
    config::Workspace workspace;
    auto connector = open_log(dir,
                              {{"name", "web"},
                               {"kind", "logfile"},
                               {"path", "access.log"},
                               {"format", "combined"},
                               {"category", "usage-data"},
                               {"subjects", {{"ip", "remote_addr"}}}},
                              workspace);
    auto inventory = connector->inventory({}, {});
    EXPECT_EQ(total(inventory), 2u);
    EXPECT_EQ(inventory.malformed, 2u);
    EXPECT_EQ(inventory.first_malformed, "access.log:2");
}

TEST(LogfileConnector, JsonLinesUseTopLevelKeysAsFieldsAndSampleUndeclaredOnes) {
    TempDir dir;
    write_text(dir / "events.jsonl",
               "{\"ts\": \"2026-11-23T10:00:00Z\", \"tenant\": \"acme\", \"ip\": \"192.0.2.1\", \"note\": \"mail "
               "ann@example.org\"}\n"
               "{\"ts\": 1795447510, \"tenant\": \"acme\", \"ip\": \"192.0.2.2\", \"note\": \"hi\"}\n"
               "{\"ts\": \"2026-11-23T11:00:00Z\", \"tenant\": \"globex\", \"ip\": \"192.0.2.3\"}\n"
               "{\"ts\": \"2026-11-23T11:00:00Z\", \"ten\n");
    config::Workspace workspace;
    auto connector = open_log(dir,
                              {{"name", "events"},
                               {"kind", "logfile"},
                               {"path", "*.jsonl"},
                               {"format", "jsonl"},
                               {"category", "streaming-data"},
                               {"subjects", {{"ip", "ip"}}},
                               {"tenant", {{"field", "tenant"}}},
                               {"timestamp", {{"field", "ts"}, {"format", "iso8601"}}}},
                              workspace);
    auto inventory = connector->inventory({}, {});
    // The unix time in line 2 does not fit the declared iso8601 format: malformed, as is line 4.
    EXPECT_EQ(total(inventory), 2u);
    EXPECT_EQ(inventory.malformed, 2u);
    ASSERT_EQ(inventory.undeclared.size(), 1u);
    EXPECT_EQ(inventory.undeclared[0].location, "note");
}

TEST(LogfileConnector, TruncatedGzipIsARuntimeErrorNamingSourceAndFile) {
    TempDir dir;
    std::string text;
    for (int i = 0; i < 2000; ++i)
        text += "192.0.2.1 - - [23/Nov/2026:15:25:10 +0000] \"GET /" + std::to_string(i) +
                " HTTP/1.1\" 200 5 \"-\" \"UA\"\n";
    gzFile gz = gzopen((dir / "access.log.2.gz").c_str(), "wb");
    gzwrite(gz, text.data(), static_cast<unsigned>(text.size()));
    gzclose(gz);
    auto full = gdprctl::testing::read_text(dir / "access.log.2.gz");
    write_text(dir / "access.log.2.gz", full.substr(0, full.size() / 2));
    config::Workspace workspace;
    auto connector = open_log(dir,
                              {{"name", "web"},
                               {"kind", "logfile"},
                               {"path", "access.log*"},
                               {"format", "combined"},
                               {"category", "usage-data"},
                               {"subjects", {{"ip", "remote_addr"}}}},
                              workspace);
    try {
        connector->inventory({}, {});
        FAIL() << "a truncated gzip must not pass silently";
    } catch (const Error& e) {
        EXPECT_EQ(e.exit_code(), 3);
        std::string what = e.what();
        EXPECT_NE(what.find("source \"web\""), std::string::npos) << what;
        EXPECT_NE(what.find("access.log.2.gz"), std::string::npos) << what;
        EXPECT_NE(what.find("truncated"), std::string::npos) << what;
    }
}

TEST(LogfileConnector, ALiveLogIsLeftAloneWithoutAReopenSignalAndRotatedFilesArePurged) {
    TempDir dir;
    write_text(dir / "access.log",
               "192.0.2.1 - - [01/Jan/2026:00:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"UA\"\n");
    write_text(dir / "access.log.1",
               "192.0.2.2 - - [01/Jan/2026:00:00:00 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"UA\"\n");
    config::Workspace workspace;
    auto connector = open_log(dir,
                              {{"name", "web"},
                               {"kind", "logfile"},
                               {"path", "access.log*"},
                               {"format", "combined"},
                               {"category", "usage-data"},
                               {"subjects", {{"ip", "remote_addr"}}}},
                              workspace);
    Selector expired;
    expired.older_than = 1795447510;
    auto plan = connector->plan(expired, {});
    ASSERT_EQ(plan.items.size(), 2u);
    EXPECT_EQ(plan.records(), 1u);
    gdprctl::testing::FaultyProgress progress;
    auto report = connector->apply(plan, progress);
    EXPECT_EQ(report.records_changed, 1u);
    ASSERT_EQ(report.notes.size(), 1u);
    EXPECT_NE(report.notes[0].find("\"reopen\""), std::string::npos) << report.notes[0];
    EXPECT_TRUE(std::filesystem::exists(dir / "access.log"));
    EXPECT_FALSE(std::filesystem::exists(dir / "access.log.1"));
}

TEST(LogfileConnector, ReadingInParallelRangesCountsExactlyAsOneThreadDoes) {
    TempDir dir;
    std::string text;
    for (int i = 0; i < 5000; ++i) {
        if (i % 611 == 17) {
            text += "truncated line " + std::to_string(i) + "\n";
            continue;
        }
        text += "192.0.2." + std::to_string(i % 200) + " - - [23/Nov/2026:15:" + std::to_string(10 + i % 40) +
                ":10 +0000] \"GET /hls/t" + std::to_string(i % 7) + "/x.ts HTTP/1.1\" 200 5 \"-\" \"UA " +
                std::string(static_cast<std::size_t>(i % 97), 'x') + "\"\n";
    }
    write_text(dir / "access.log", text);
    config::Workspace workspace;
    auto connector = open_log(dir,
                              {{"name", "web"},
                               {"kind", "logfile"},
                               {"path", "access.log"},
                               {"format", "combined"},
                               {"category", "usage-data"},
                               {"subjects", {{"ip", "remote_addr"}}},
                               {"tenant", {{"field", "request"}, {"regex", "^GET /hls/([^/]+)/"}}}},
                              workspace);
    InventoryOptions one_thread;
    one_thread.threads = 1;
    auto expected = connector->inventory({}, one_thread);
    ASSERT_EQ(total(expected) + expected.malformed, 5000u);
    for (unsigned threads : {2u, 3u, 7u}) {
        InventoryOptions split;
        split.threads = threads;
        split.parallel_min_bytes = 1;
        auto got = connector->inventory({}, split);
        EXPECT_EQ(got.malformed, expected.malformed) << threads;
        EXPECT_EQ(got.first_malformed, expected.first_malformed) << threads;
        ASSERT_EQ(got.rows.size(), expected.rows.size()) << threads;
        for (const auto& row : expected.rows) {
            auto it =
                std::find_if(got.rows.begin(), got.rows.end(), [&](const auto& r) { return r.tenant == row.tenant; });
            ASSERT_NE(it, got.rows.end());
            EXPECT_EQ(it->records, row.records) << threads << " " << row.tenant;
            EXPECT_EQ(it->bytes, row.bytes) << threads << " " << row.tenant;
            EXPECT_EQ(it->oldest, row.oldest);
            EXPECT_EQ(it->newest, row.newest);
        }
    }
}

TEST(LineReader, MarksExactlyTheLinesThatHoldAnIdentifierAcrossBufferBoundaries) {
    TempDir dir;
    std::string text;
    for (int i = 0; text.size() < (3u << 20); ++i) {
        text += i % 97 == 0 ? "10.1.2.3" : i % 89 == 0 ? "10.1.2.34" : "192.0.2." + std::to_string(i % 250);
        text += " - - [24/Nov/2026:10:00:00 +0000] \"GET /hls/acme/" +
                std::string(static_cast<std::size_t>(i % 40), 'x') + (i % 131 == 0 ? " ann@example.org" : "") +
                "\" 200 1\n";
    }
    text += "10.1.2.3 last line without a newline";
    std::ofstream(dir / "access.log", std::ios::binary) << text;
    pii::IdentifierMatcher identifiers({"10.1.2.3", "ann@example.org"});
    std::size_t lines = 0, marked = 0, wrong = 0;
    for_each_line_marked(dir / "access.log", identifiers, [&](std::string_view line, std::uint64_t, bool holds) {
        ++lines;
        marked += holds;
        wrong += holds != identifiers.contains(line);
        return true;
    });
    EXPECT_EQ(wrong, 0u);
    EXPECT_GT(marked, 200u);
    EXPECT_EQ(lines, static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
}

TEST(LineReader, GivesEachLineAroundTheMatchEndsOnceWithItsOffsetAndLength) {
    TempDir dir;
    const std::vector<std::string> lines = {
        "10.1.2.3 first line\n",
        "192.0.2.1 no match\n",
        "192.0.2.2 ends in CR, twice 10.1.2.3 and 10.1.2.3\r\n",
        "10.1.2.34 near miss\n",
        "\n",
        "192.0.2.3 a long line " + std::string(9000, 'x') + " 10.1.2.3 " + std::string(9000, 'y') + "\n",
        "192.0.2.4 no match\n",
        "last line without a newline 10.1.2.3"};
    std::string text;
    for (const auto& line : lines) text += line;
    write_text(dir / "access.log", text);
    pii::IdentifierMatcher identifiers({"10.1.2.3"});
    auto found = find_in_raw_bytes(dir / "access.log", identifiers, 1);
    ASSERT_EQ(found.match_ends.size(), 5u);
    std::vector<std::tuple<std::string, std::uint64_t, std::uint64_t>> got, expected;
    for_each_line_around(dir / "access.log", found.match_ends,
                         [&](std::string_view line, std::uint64_t offset, std::uint64_t length) {
                             got.emplace_back(std::string(line), offset, length);
                         });
    std::uint64_t offset = 0;
    for (const auto& line : lines) {
        if (identifiers.contains(line)) {
            std::string bare = line.substr(0, line.find_first_of("\r\n"));
            expected.emplace_back(bare, offset, line.size());
        }
        offset += line.size();
    }
    ASSERT_EQ(expected.size(), 4u);
    EXPECT_EQ(got, expected);
}

// Access-log lines in the combined format, each with its ending.
std::string access_line(const std::string& ip, const std::string& path, const std::string& ending = "\n") {
    return ip + " - - [24/Nov/2026:10:00:00 +0000] \"GET /hls/acme/" + path + " HTTP/1.1\" 200 5 \"-\" \"UA\"" + ending;
}

// No server writes to these logs: none of them is live.
nlohmann::json combined_log_source() {
    return {{"name", "web"},
            {"kind", "logfile"},
            {"path", "access.log*"},
            {"live_file", "none"},
            {"format", "combined"},
            {"category", "usage-data"},
            {"subjects", {{"ip", "remote_addr"}}}};
}

Selector one_address(const std::string& ip) {
    Selector selector;
    selector.subjects = {{"ip", ip}};
    return selector;
}

Action erase_action() {
    Action action;
    action.kind = Action::Kind::erase;
    return action;
}

TEST(LogfileConnector, ErasingAPersonRemovesTheirLinesAndKeepsEveryOtherByteAndEveryLineAppendedSince) {
    TempDir dir;
    std::string theirs_1 = access_line("10.1.2.3", "1.ts"), theirs_2 = access_line("10.1.2.3", "2.ts", "\r\n");
    std::string kept_before = access_line("192.0.2.1", "a.ts", "\r\n") + access_line("10.1.2.34", "near-miss.ts") +
                              access_line("192.0.2.2", "10.1.2.3.ts") + "\n";
    std::string kept_after = access_line("192.0.2.3", std::string(5000, 'z') + ".ts") +
                             access_line("192.0.2.4", "last.ts", "");  // no newline at the end
    write_text(dir / "access.log", theirs_1 + kept_before + theirs_2 + kept_after);
    // A rotated file whose last line, unterminated, is theirs.
    std::string rotated_kept = access_line("192.0.2.5", "r.ts");
    write_text(dir / "access.log.1", rotated_kept + access_line("10.1.2.3", "r.ts", ""));
    config::Workspace workspace;
    auto connector = open_log(dir, combined_log_source(), workspace);

    auto plan = connector->plan(one_address("10.1.2.3"), erase_action());
    ASSERT_EQ(plan.items.size(), 2u) << plan.to_json().dump();
    EXPECT_EQ(plan.records(), 3u) << plan.to_json().dump();
    for (const auto& item : plan.items) ASSERT_TRUE(item.snapshot.contains("selected_at")) << item.snapshot.dump();
    // Written after the plan: not the plan's to erase (a rescan reports the address again).
    std::string appended = access_line("10.1.2.3", "later.ts") + access_line("192.0.2.6", "later.ts");
    std::ofstream(dir / "access.log", std::ios::app | std::ios::binary) << "\n" << appended;

    gdprctl::testing::FaultyProgress progress;
    auto report = connector->apply(plan, progress);
    EXPECT_EQ(report.records_changed, 3u);
    EXPECT_EQ(gdprctl::testing::read_text(dir / "access.log"), kept_before + kept_after + "\n" + appended);
    EXPECT_EQ(gdprctl::testing::read_text(dir / "access.log.1"), rotated_kept);
}

TEST(LogfileConnector, AnErasureRereadsEveryLineWhenTheLogWasChangedInPlaceSincePlanned) {
    TempDir dir;
    std::string others = access_line("192.0.2.1", "a.ts") + access_line("192.0.2.2", "b.ts", "\r\n");
    write_text(dir / "access.log",
               others + access_line("10.1.2.3", "1.ts") + others + access_line("10.1.2.3", "2.ts") + others);
    config::Workspace workspace;
    auto connector = open_log(dir, combined_log_source(), workspace);
    auto plan = connector->plan(one_address("10.1.2.3"), erase_action());
    ASSERT_EQ(plan.records(), 2u);
    // Rewritten in place (the same inode, or apply would take it for done), a longer line at
    // the start: the listed offsets no longer fall on the person's lines.
    std::string longer = access_line("192.0.2.9", "a-longer-first-line.ts");
    std::ofstream(dir / "access.log", std::ios::binary | std::ios::trunc)
        << longer << access_line("10.1.2.3", "1.ts") << others << access_line("10.1.2.3", "2.ts") << others;

    gdprctl::testing::FaultyProgress progress;
    connector->apply(plan, progress);
    EXPECT_EQ(gdprctl::testing::read_text(dir / "access.log"), longer + others + others);
}

std::string gzip_text(const std::string& text) {
    std::string out(compressBound(static_cast<uLong>(text.size())) + 64, '\0');
    z_stream stream{};
    deflateInit2(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    stream.avail_in = static_cast<uInt>(text.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    deflate(&stream, Z_FINISH);
    out.resize(stream.total_out);
    deflateEnd(&stream);
    return out;
}

std::string gunzip_file(const std::filesystem::path& path) {
    std::string text;
    for_each_line(
        path, [&](std::string_view line, std::uint64_t) { return text.append(line).append("\n"), true; },
        Ending::as_written);
    return text;
}

TEST(LogfileConnector, APurgeKeepsEveryOtherLineOfACrlfLogByteForByteInPlainAndGzipFiles) {
    TempDir dir;
    std::string old_line = "192.0.2.1 - - [01/Jan/2026:00:00:00 +0000] \"GET /a HTTP/1.1\" 200 5 \"-\" \"UA\"\r\n";
    std::string new_line = "192.0.2.2 - - [24/Nov/2026:00:00:00 +0000] \"GET /b HTTP/1.1\" 200 5 \"-\" \"UA\"\r\n";
    write_text(dir / "access.log.1", old_line + new_line + old_line + new_line);
    std::ofstream(dir / "access.log.2.gz", std::ios::binary) << gzip_text(new_line + old_line + new_line);
    config::Workspace workspace;
    auto connector = open_log(dir, combined_log_source(), workspace);
    Selector expired;
    expired.older_than = 1795447510;  // 2026-11-23
    auto plan = connector->plan(expired, {});
    ASSERT_EQ(plan.records(), 3u);
    gdprctl::testing::FaultyProgress progress;
    connector->apply(plan, progress);
    EXPECT_EQ(gdprctl::testing::read_text(dir / "access.log.1"), new_line + new_line);
    EXPECT_EQ(gunzip_file(dir / "access.log.2.gz"), new_line + new_line);
}

}  // namespace
}  // namespace gdprctl::connectors::logfile
