#include "tests/refstack/seed.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sys/time.h>
#include <zlib.h>

#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>

#include "connectors/s3/s3_client.hpp"
#include "core/util/fs.hpp"
#include "core/util/time.hpp"

namespace gdprctl::refstack {

namespace {

const char* const k_tenant_ids[] = {"acme",     "bluebird", "cafemuller", "dolomiti",
                                    "eastwind", "fjord",    "granite",    "harbor"};
const char* const k_tenant_names[] = {"ACME Streaming Ltd",   "Bluebird Events",   "Café Müller GmbH",
                                      "Dolomiti Live S.r.l.", "Eastwind Webinars", "Fjord Média AS",
                                      "Granite Conferences",  "Harbor Broadcast"};
const char* const k_first[] = {"Anna",  "Bruno", "Chloé", "David", "Eva",  "Farid", "Greta",   "Hugo", "Inès",  "Jonas",
                               "Karin", "Luca",  "Mia",   "Noah",  "Olga", "Pavel", "Quentin", "Rosa", "Søren", "Tara"};
const char* const k_last[] = {"Martin", "Schmidt", "Rossi", "Dubois",   "Nowak", "García",
                              "Jensen", "Müller",  "Silva", "Kowalski", "Novak", "Laurent"};
const char* const k_agents[] = {
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Version/17.4 Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", "VLC/3.0.20 LibVLC/3.0.20",
    "AppleCoreMedia/1.0.0.21E236 (Apple TV; U; CPU OS 17_4 like Mac OS X)"};

// The access log format the reference platform's nginx writes (also used for the seeded logs).
const char* const k_access_format =
    "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" "
    "\"$http_user_agent\" \"$http_x_forwarded_for\" rt=$request_time";

class Random {
public:
    explicit Random(std::uint64_t seed) : m_engine(seed) {}
    std::uint64_t below(std::uint64_t n) { return n ? m_engine() % n : 0; }
    bool chance(int percent) { return below(100) < static_cast<std::uint64_t>(percent); }
    std::string hex(int length) {
        static constexpr char k_hex[] = "0123456789abcdef";
        std::string out;
        for (int i = 0; i < length; ++i) out += k_hex[below(16)];
        return out;
    }

private:
    std::mt19937_64 m_engine;  // its output sequence is fixed by the standard
};

struct Viewer {
    int id;
    std::string email;
    std::string name;
    std::vector<std::string> ips;
};

struct Stream {
    int id;
    int tenant;
    std::string name;
    std::string key;
};

struct Session {
    int id;
    int stream;
    int viewer;  // -1: anonymous viewer
    std::string ip;
    std::string agent;
    std::int64_t start;
};

std::string sql_time(std::int64_t t) {
    auto iso = util::format_iso8601(t);
    return iso.substr(0, 10) + " " + iso.substr(11, 8);
}

std::string ascii_fold(const std::string& text) {
    static const std::map<std::string, std::string> k_folds = {
        {"é", "e"}, {"è", "e"}, {"ü", "u"}, {"ø", "o"}, {"ö", "o"}, {"ç", "c"}, {"í", "i"}, {"á", "a"}, {"ñ", "n"}};
    std::string out;
    for (std::size_t i = 0; i < text.size();) {
        bool folded = false;
        for (const auto& [from, to] : k_folds)
            if (text.compare(i, from.size(), from) == 0) {
                out += to;
                i += from.size();
                folded = true;
                break;
            }
        if (!folded) {
            char c = text[i++];
            out += static_cast<char>((c >= 'A' && c <= 'Z') ? c | 0x20 : c);
        }
    }
    return out;
}

void set_mtime(const std::filesystem::path& path, std::int64_t t) {
    struct timeval times[2] = {{static_cast<time_t>(t), 0}, {static_cast<time_t>(t), 0}};
    ::utimes(path.c_str(), times);
}

// Counts what a scan must find: per tenant ("" = platform-wide) per dataset, and per subject.
class Truth {
public:
    void add(const std::string& tenant, const std::string& dataset, const std::string& category, std::uint64_t n = 1) {
        m_tenants[tenant][dataset] += n;
        m_categories[tenant][category] += n;
    }
    void add_subject(int viewer, const std::string& dataset, std::uint64_t n = 1) {
        if (m_sampled.count(viewer)) m_subjects[viewer][dataset] += n;
    }
    void sample(int viewer) { m_sampled.insert(viewer); }
    void malformed(const std::string& dataset) { ++m_malformed[dataset]; }

    nlohmann::json to_json(const std::vector<Viewer>& viewers,
                           const std::map<int, std::set<int>>& viewer_tenants) const {
        nlohmann::json out;
        out["tenants"] = nlohmann::json::object();
        for (const auto& [tenant, datasets] : m_tenants) {
            if (tenant.empty()) continue;
            out["tenants"][tenant] = {{"records", datasets}, {"by_category", m_categories.at(tenant)}};
        }
        if (m_tenants.count(""))
            out["platform"] = {{"records", m_tenants.at("")}, {"by_category", m_categories.at("")}};
        out["subjects"] = nlohmann::json::array();
        for (int id : m_sampled) {
            const auto& viewer = viewers[static_cast<std::size_t>(id - 1)];
            nlohmann::json tenants = nlohmann::json::array();
            if (viewer_tenants.count(id))
                for (int t : viewer_tenants.at(id)) tenants.push_back(tenant_id(t));
            out["subjects"].push_back(
                {{"identifiers", {{"email", viewer.email}, {"user", std::to_string(id)}, {"ip", viewer.ips}}},
                 {"tenants", tenants},
                 {"records", m_subjects.count(id) ? nlohmann::json(m_subjects.at(id)) : nlohmann::json::object()}});
        }
        out["malformed"] = m_malformed;
        return out;
    }

private:
    std::map<std::string, std::map<std::string, std::uint64_t>> m_tenants, m_categories;
    std::map<int, std::map<std::string, std::uint64_t>> m_subjects;
    std::set<int> m_sampled;
    std::map<std::string, std::uint64_t> m_malformed;
};

class Seeder {
public:
    explicit Seeder(const SeedOptions& options)
        : m_options(options),
          m_random(options.seed),
          m_now(options.now ? options.now : util::now() / 3600 * 3600),
          m_bucket(open_bucket(options)) {}

    nlohmann::json run() {
        auto dir = m_options.dir;
        for (const char* sub : {"logs", "events", "recordings", "captions", "hls"})
            std::filesystem::create_directories(dir / sub);
        make_people();
        write_database(dir / "platform.db");
        if (m_options.db == "postgres") {
            copy_platform_database(dir / "platform.db", m_options.postgres);
            std::filesystem::remove(dir / "platform.db");
        }
        write_access_logs(dir / "logs");
        write_rtmp_log(dir / "logs" / "rtmp_access.log");
        write_events(dir / "events");
        write_recordings(dir);
        write_config(dir / "gdprctl.json");
        auto truth = m_truth.to_json(m_viewers, m_viewer_tenants);
        truth["now"] = util::format_iso8601(m_now);
        truth["options"] = {{"tenants", m_options.tenants},
                            {"viewers", m_options.viewers},
                            {"days", m_options.days},
                            {"log_size", m_options.log_size},
                            {"seed", m_options.seed}};
        util::write_file_atomically(dir / "truth.json", truth.dump(2) + "\n", 0600);
        return truth;
    }

private:
    std::int64_t day_start(int days_ago) const { return (m_now / 86400 - days_ago) * 86400; }
    std::int64_t time_in_day(int days_ago) {
        return day_start(days_ago) + static_cast<std::int64_t>(m_random.below(86400));
    }
    int days_ago_of(std::int64_t t) const { return static_cast<int>(m_now / 86400 - t / 86400); }
    std::string tenant_of_stream(int stream) const {
        return tenant_id(m_streams[static_cast<std::size_t>(stream - 1)].tenant);
    }

    std::string viewer_ip(int n) {
        if (n % 7 == 3) return "2001:db8:" + std::to_string(n / 256 + 1) + "::" + std::to_string(n % 256 + 16);
        // 100.64.0.0/10 (shared address space): unique for every n below four million.
        return "100." + std::to_string(64 + (n >> 16) % 64) + "." + std::to_string((n >> 8) & 255) + "." +
               std::to_string(n & 255);
    }

    void make_people() {
        for (int i = 1; i <= m_options.viewers; ++i) {
            std::string first = k_first[m_random.below(std::size(k_first))];
            std::string last = k_last[m_random.below(std::size(k_last))];
            std::string local = ascii_fold(first) + "." + ascii_fold(last) + std::to_string(i);
            // Some people have addresses outside ASCII (RFC 6531); a real platform stores them.
            std::string email =
                (i % 9 == 4) ? "jürgen.groß" + std::to_string(i) + "@exämple.de" : local + "@example.org";
            Viewer viewer{i, email, first + " " + last, {viewer_ip(2 * i)}};
            if (i % 4 == 0) viewer.ips.push_back(viewer_ip(2 * i + 1));
            m_viewers.push_back(viewer);
        }
        int stream_id = 0;
        for (int t = 0; t < m_options.tenants; ++t)
            for (int s = 1; s <= 3; ++s)
                m_streams.push_back({++stream_id, t,
                                     (s == 1   ? "main"
                                      : s == 2 ? "town-hall"
                                               : "training"),
                                     m_random.hex(16)});
        // Viewers 1..5 are sampled subjects; viewer 2 watches every tenant (the shared viewer).
        for (int id = 1; id <= std::min(5, m_options.viewers); ++id) m_truth.sample(id);
        int anonymous_ip = 4000;
        int per_day = std::max(4, m_options.viewers / 2);
        int session_id = 0;
        for (int day = m_options.days - 1; day >= 0; --day) {
            for (int k = 0; k < per_day; ++k) {
                Session session;
                session.id = ++session_id;
                session.stream = static_cast<int>(m_random.below(m_streams.size())) + 1;
                if (k == 0 && m_options.viewers >= 2) {
                    session.viewer = 2;  // the shared viewer: every day, a different tenant
                    session.stream = static_cast<int>((day % m_options.tenants) * 3) + 1;
                } else {
                    session.viewer = m_random.chance(70) ? static_cast<int>(m_random.below(m_viewers.size())) + 1 : -1;
                }
                const Viewer* viewer =
                    session.viewer > 0 ? &m_viewers[static_cast<std::size_t>(session.viewer - 1)] : nullptr;
                session.ip = viewer ? viewer->ips[m_random.below(viewer->ips.size())] : viewer_ip(anonymous_ip++);
                session.agent = k_agents[m_random.below(std::size(k_agents))];
                session.start = time_in_day(day);
                if (viewer)
                    m_viewer_tenants[session.viewer].insert(
                        m_streams[static_cast<std::size_t>(session.stream - 1)].tenant);
                m_sessions.push_back(session);
            }
        }
        std::sort(m_sessions.begin(), m_sessions.end(),
                  [](const Session& a, const Session& b) { return a.start < b.start; });
        for (std::size_t i = 0; i < m_sessions.size(); ++i) m_sessions[i].id = static_cast<int>(i + 1);
        for (const auto& session : m_sessions)
            m_sessions_by_day[days_ago_of(session.start)].push_back(&session - &m_sessions[0]);
    }

    void write_database(const std::filesystem::path& path) {
        std::filesystem::remove(path);
        SQLite::Database db(path.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
        db.exec(R"SQL(
CREATE TABLE tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL, plan TEXT, region TEXT, created_at TEXT);
CREATE TABLE administrators (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), username TEXT,
  email TEXT, full_name TEXT, phone TEXT, password_hash TEXT, role TEXT, created_at TEXT);
CREATE TABLE streams (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), name TEXT, stream_key TEXT,
  title TEXT, recording_enabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER);
CREATE TABLE viewers (id INTEGER PRIMARY KEY, email TEXT UNIQUE, display_name TEXT, created_at TEXT);
CREATE TABLE sessions (id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL REFERENCES streams(id),
  viewer_id INTEGER REFERENCES viewers(id), ip TEXT, user_agent TEXT, started_at INTEGER, duration_s INTEGER);
CREATE INDEX sessions_started ON sessions(started_at);
CREATE TABLE viewer_stats (id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES sessions(id), ip TEXT,
  bytes_sent INTEGER, bitrate_kbps INTEGER, recorded_at TEXT);
CREATE TABLE webinars (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), title TEXT, starts_at TEXT);
CREATE TABLE registrations (id INTEGER PRIMARY KEY, webinar_id INTEGER NOT NULL REFERENCES webinars(id),
  viewer_id INTEGER REFERENCES viewers(id), name TEXT, email TEXT, company TEXT, registered_at TEXT);
CREATE TABLE chat_messages (id INTEGER PRIMARY KEY, webinar_id INTEGER NOT NULL REFERENCES webinars(id),
  registration_id INTEGER REFERENCES registrations(id), body TEXT, sent_at TEXT);
CREATE TABLE questions (id INTEGER PRIMARY KEY, webinar_id INTEGER NOT NULL REFERENCES webinars(id),
  registration_id INTEGER REFERENCES registrations(id), body TEXT, asked_at TEXT);
CREATE TABLE captions (id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL REFERENCES streams(id), language TEXT,
  text TEXT, created_at TEXT);
CREATE TABLE vocabularies (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), term TEXT, created_at TEXT);
CREATE TABLE endpoints (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id), direction TEXT, url TEXT,
  created_at TEXT);
CREATE TABLE storage_settings (tenant_id TEXT PRIMARY KEY REFERENCES tenants(id), region TEXT, bucket TEXT, updated_at TEXT);
)SQL");
        SQLite::Transaction transaction(db);
        insert_tenants(db);
        insert_viewers(db);
        insert_sessions(db);
        insert_webinars(db);
        insert_captions(db);
        transaction.commit();
    }

    void insert_tenants(SQLite::Database& db) {
        SQLite::Statement tenant(db, "INSERT INTO tenants VALUES (?, ?, ?, ?, ?)");
        SQLite::Statement admin(db,
                                "INSERT INTO administrators (tenant_id, username, email, full_name, phone, "
                                "password_hash, role, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
        SQLite::Statement stream(db, "INSERT INTO streams VALUES (?, ?, ?, ?, ?, ?, ?)");
        SQLite::Statement vocabulary(db, "INSERT INTO vocabularies (tenant_id, term, created_at) VALUES (?, ?, ?)");
        SQLite::Statement endpoint(db,
                                   "INSERT INTO endpoints (tenant_id, direction, url, created_at) VALUES (?, ?, ?, ?)");
        SQLite::Statement storage(db, "INSERT INTO storage_settings VALUES (?, ?, ?, ?)");
        for (int t = 0; t < m_options.tenants; ++t) {
            std::string id = tenant_id(t);
            std::string created = util::format_iso8601(day_start(m_options.days + 30 + t));
            tenant.bind(1, id);
            tenant.bind(2, t < static_cast<int>(std::size(k_tenant_names)) ? k_tenant_names[t] : "Tenant " + id);
            tenant.bind(3, t % 2 ? "business" : "enterprise");
            tenant.bind(4, "eu-central");
            tenant.bind(5, created);
            tenant.exec();
            tenant.reset();
            for (int a = 0; a < 2; ++a) {
                std::string first = k_first[m_random.below(std::size(k_first))];
                std::string last = k_last[m_random.below(std::size(k_last))];
                admin.bind(1, id);
                admin.bind(2, ascii_fold(first) + "." + id);
                admin.bind(3, ascii_fold(first) + "." + ascii_fold(last) + "@" + id + ".example.com");
                admin.bind(4, first + " " + last);
                admin.bind(5, "+49 30 555" + std::to_string(1000 + t * 10 + a));
                admin.bind(6, "$argon2id$v=19$m=65536,t=3,p=4$" + m_random.hex(22));
                admin.bind(7, a == 0 ? "owner" : "editor");
                admin.bind(8, created);
                admin.exec();
                admin.reset();
                m_truth.add(id, "platform-db:administrators", "administrator-accounts");
            }
            vocabulary.bind(1, id);
            vocabulary.bind(2, std::string(t < static_cast<int>(std::size(k_tenant_names)) ? k_tenant_names[t] : id));
            vocabulary.bind(3, created);
            vocabulary.exec();
            vocabulary.reset();
            m_truth.add(id, "platform-db:vocabularies", "ai-generated");
            storage.bind(1, id);
            storage.bind(2, "eu-central-1");
            storage.bind(3, "recordings-" + id);
            storage.bind(4, created);
            storage.exec();
            storage.reset();
        }
        for (const auto& s : m_streams) {
            std::string id = tenant_id(s.tenant);
            stream.bind(1, s.id);
            stream.bind(2, id);
            stream.bind(3, s.name);
            stream.bind(4, s.key);
            stream.bind(5, s.name == "main"        ? "Main channel"
                           : s.name == "town-hall" ? "Quarterly town hall"
                                                   : "Training");
            stream.bind(6, s.name == "main" ? 1 : 0);
            stream.bind(7, static_cast<std::int64_t>(day_start(m_options.days + 1)));
            stream.exec();
            stream.reset();
            m_truth.add(id, "platform-db:streams", "streaming-data");
            endpoint.bind(1, id);
            endpoint.bind(2, "ingest");
            endpoint.bind(3, "rtmps://ingest.example.net/" + id + "/" + s.name + "?key=" + s.key);
            endpoint.bind(4, util::format_iso8601(day_start(m_options.days + 1)));
            endpoint.exec();
            endpoint.reset();
            m_truth.add(id, "platform-db:endpoints", "configuration");
        }
    }

    void insert_viewers(SQLite::Database& db) {
        SQLite::Statement viewer(db, "INSERT INTO viewers VALUES (?, ?, ?, ?)");
        for (const auto& v : m_viewers) {
            viewer.bind(1, v.id);
            viewer.bind(2, v.email);
            viewer.bind(3, v.name);
            viewer.bind(4, util::format_iso8601(day_start(m_options.days + 2)));
            viewer.exec();
            viewer.reset();
            m_truth.add("", "platform-db:viewers", "streaming-data");
            m_truth.add_subject(v.id, "platform-db:viewers");
        }
    }

    void insert_sessions(SQLite::Database& db) {
        SQLite::Statement session(db, "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)");
        SQLite::Statement stat(
            db,
            "INSERT INTO viewer_stats (session_id, ip, bytes_sent, bitrate_kbps, recorded_at) VALUES (?, ?, ?, ?, ?)");
        for (const auto& s : m_sessions) {
            std::string tenant = tenant_of_stream(s.stream);
            session.bind(1, s.id);
            session.bind(2, s.stream);
            if (s.viewer > 0)
                session.bind(3, s.viewer);
            else
                session.bind(3);
            session.bind(4, s.ip);
            session.bind(5, s.agent);
            session.bind(6,
                         static_cast<std::int64_t>(s.start * 1000 + static_cast<std::int64_t>(m_random.below(1000))));
            session.bind(7, static_cast<int>(60 + m_random.below(3600)));
            session.exec();
            session.reset();
            m_truth.add(tenant, "platform-db:sessions", "streaming-data");
            if (s.viewer > 0) m_truth.add_subject(s.viewer, "platform-db:sessions");
            int stats = 1 + static_cast<int>(m_random.below(3));
            for (int k = 0; k < stats; ++k) {
                stat.bind(1, s.id);
                stat.bind(2, s.ip);
                stat.bind(3, static_cast<std::int64_t>(m_random.below(50000000)));
                stat.bind(4, static_cast<int>(800 + m_random.below(4000)));
                stat.bind(5, sql_time(s.start + 60 * k));
                stat.exec();
                stat.reset();
                m_truth.add(tenant, "platform-db:viewer_stats", "streaming-data");
                if (s.viewer > 0) m_truth.add_subject(s.viewer, "platform-db:viewer_stats");
            }
        }
    }

    void insert_webinars(SQLite::Database& db) {
        SQLite::Statement webinar(db, "INSERT INTO webinars VALUES (?, ?, ?, ?)");
        SQLite::Statement registration(db, "INSERT INTO registrations VALUES (?, ?, ?, ?, ?, ?, ?)");
        SQLite::Statement chat(
            db, "INSERT INTO chat_messages (webinar_id, registration_id, body, sent_at) VALUES (?, ?, ?, ?)");
        SQLite::Statement question(
            db, "INSERT INTO questions (webinar_id, registration_id, body, asked_at) VALUES (?, ?, ?, ?)");
        int webinar_id = 0, registration_id = 0;
        for (int t = 0; t < m_options.tenants; ++t) {
            std::string tenant = tenant_id(t);
            for (int w = 0; w < 2; ++w) {
                int days_ago = static_cast<int>(m_random.below(static_cast<std::uint64_t>(m_options.days)));
                std::int64_t starts = time_in_day(days_ago);
                webinar.bind(1, ++webinar_id);
                webinar.bind(2, tenant);
                webinar.bind(3, w ? "Product launch" : "Customer onboarding");
                webinar.bind(4, util::format_iso8601(starts));
                webinar.exec();
                webinar.reset();
                int participants = 3 + static_cast<int>(m_random.below(5));
                for (int p = 0; p < participants; ++p) {
                    // The shared viewer registers for the first webinar of every tenant.
                    int viewer = (p == 0 && w == 0 && m_options.viewers >= 2)
                                     ? 2
                                     : static_cast<int>(m_random.below(m_viewers.size())) + 1;
                    const auto& v = m_viewers[static_cast<std::size_t>(viewer - 1)];
                    registration.bind(1, ++registration_id);
                    registration.bind(2, webinar_id);
                    registration.bind(3, viewer);
                    registration.bind(4, v.name);
                    registration.bind(5, v.email);
                    registration.bind(6, t % 2 ? "Initech" : "Globex Corporation");
                    registration.bind(7, util::format_iso8601(starts - 86400));
                    registration.exec();
                    registration.reset();
                    m_truth.add(tenant, "platform-db:registrations", "webinar-participants");
                    m_truth.add_subject(viewer, "platform-db:registrations");
                    chat.bind(1, webinar_id);
                    chat.bind(2, registration_id);
                    chat.bind(3, p % 3 == 0 ? "Hello from " + v.name + "!" : "Great talk, thanks.");
                    chat.bind(4, util::format_iso8601(starts + 600 + p));
                    chat.exec();
                    chat.reset();
                    m_truth.add(tenant, "platform-db:chat_messages", "webinar-participants");
                    m_truth.add_subject(viewer, "platform-db:chat_messages");
                    if (p % 2 == 0) {
                        question.bind(1, webinar_id);
                        question.bind(2, registration_id);
                        question.bind(3, "Will the recording be shared with attendees?");
                        question.bind(4, util::format_iso8601(starts + 1200 + p));
                        question.exec();
                        question.reset();
                        m_truth.add(tenant, "platform-db:questions", "webinar-participants");
                        m_truth.add_subject(viewer, "platform-db:questions");
                    }
                }
            }
        }
    }

    void insert_captions(SQLite::Database& db) {
        SQLite::Statement caption(db,
                                  "INSERT INTO captions (stream_id, language, text, created_at) VALUES (?, ?, ?, ?)");
        for (const auto& s : m_streams) {
            for (const char* language : {"en", "de"}) {
                caption.bind(1, s.id);
                caption.bind(2, language);
                caption.bind(3, std::string("Welcome to the ") + s.name + " stream.");
                caption.bind(4, util::format_iso8601(day_start(
                                    static_cast<int>(m_random.below(static_cast<std::uint64_t>(m_options.days))))));
                caption.exec();
                caption.reset();
                m_truth.add(tenant_id(s.tenant), "platform-db:captions", "ai-generated");
            }
        }
    }

    // Where the HTTP access log line for day `days_ago` goes: today in access.log, yesterday in
    // access.log.1, older days gzipped (logrotate's daily + delaycompress layout).
    std::filesystem::path access_file(const std::filesystem::path& dir, int days_ago) const {
        if (days_ago == 0) return dir / "access.log";
        if (days_ago == 1) return dir / "access.log.1";
        return dir / ("access.log." + std::to_string(days_ago) + ".gz");
    }

    std::string access_line(const Session& s, std::int64_t t, int sequence, bool via_proxy) {
        const auto& stream = m_streams[static_cast<std::size_t>(s.stream - 1)];
        std::string path = "/hls/" + tenant_id(stream.tenant) + "/" + stream.name +
                           (sequence % 6 == 0 ? ".m3u8" : "-" + std::to_string(sequence) + ".ts");
        std::string remote = via_proxy ? "198.51.100.250" : s.ip;
        std::string forwarded = via_proxy ? s.ip : "-";
        return remote + " - - [" + util::format_nginx_time(t) + "] \"GET " + path + " HTTP/1.1\" 200 " +
               std::to_string(sequence % 6 == 0 ? 180 : 48000 + m_random.below(4000)) +
               " \"https://player.example.net/embed/" + tenant_id(stream.tenant) + "\" \"" + s.agent + "\" \"" +
               forwarded + "\" rt=0.00" + std::to_string(m_random.below(10));
    }

    void write_access_logs(const std::filesystem::path& dir) {
        std::uint64_t per_day =
            std::max<std::uint64_t>(1, m_options.log_size / static_cast<std::uint64_t>(m_options.days));
        for (int day = m_options.days - 1; day >= 0; --day) {
            auto path = access_file(dir, day);
            std::string buffer;
            gzFile gz = nullptr;
            std::ofstream plain;
            if (path.extension() == ".gz")
                gz = gzopen(path.c_str(), "wb6");
            else
                plain.open(path, std::ios::binary | std::ios::trunc);
            auto flush = [&] {
                if (gz)
                    gzwrite(gz, buffer.data(), static_cast<unsigned>(buffer.size()));
                else
                    plain.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
                buffer.clear();
            };
            const auto& sessions = m_sessions_by_day[day];
            std::uint64_t written = 0, sequence = 0;
            std::int64_t begin = day_start(day);
            std::uint64_t expected_lines = per_day / 230 + 1;
            while (written < per_day) {
                std::int64_t t = begin + static_cast<std::int64_t>(sequence * 86400 / expected_lines);
                if (t >= begin + 86400) t = begin + 86399;
                std::string line;
                if (sequence % 997 == 500 || (sequence == 3 && day % 10 == 5)) {
                    // A line cut short by a crash mid-write: real logs have them.
                    line = "203.0.113.9 - - [" + util::format_nginx_time(t).substr(0, 12);
                    m_truth.malformed("access-log");
                } else if (sequence % 101 == 50 || sessions.empty()) {
                    line = "127.0.0.1 - - [" + util::format_nginx_time(t) +
                           "] \"GET /stat HTTP/1.1\" 200 2048 \"-\" \"monitoring/1.0\" \"-\" rt=0.001";
                    m_truth.add("", "access-log", "usage-data");
                } else {
                    const auto& s = m_sessions[sessions[m_random.below(sessions.size())]];
                    line = access_line(s, t, static_cast<int>(sequence % 600), sequence % 13 == 7);
                    m_truth.add(tenant_of_stream(s.stream), "access-log", "usage-data");
                    if (s.viewer > 0) m_truth.add_subject(s.viewer, "access-log");
                }
                buffer += line;
                buffer += '\n';
                written += line.size() + 1;
                ++sequence;
                if (buffer.size() > (1 << 20)) flush();
            }
            flush();
            if (gz)
                gzclose(gz);
            else
                plain.close();
            set_mtime(path, begin + 86399);
        }
    }

    void write_rtmp_log(const std::filesystem::path& path) {
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        for (const auto& s : m_sessions) {
            if (s.id % 5) continue;
            const auto& stream = m_streams[static_cast<std::size_t>(s.stream - 1)];
            std::string tenant = tenant_id(stream.tenant);
            out << "127.0.0.1 [" << util::format_nginx_time(s.start) << "] PUBLISH \"" << tenant << "\" \""
                << stream.name << "\" \"key=" << stream.key << "\" - " << 200000 + m_random.below(100000)
                << " 529 \"\" \"FMLE/3.0 (compatible; Lavf59.27\" (10s)\n";
            m_truth.add(tenant, "rtmp-log", "usage-data");
        }
    }

    void write_events(const std::filesystem::path& dir) {
        std::map<int, std::ofstream> files;
        for (const auto& s : m_sessions) {
            int day = days_ago_of(s.start);
            auto& out = files[day];
            if (!out.is_open())
                out.open(dir / ("events-" + util::format_iso8601(s.start).substr(0, 10) + ".jsonl"), std::ios::trunc);
            const auto& stream = m_streams[static_cast<std::size_t>(s.stream - 1)];
            std::string tenant = tenant_id(stream.tenant);
            for (const char* kind : {"play", "stop"}) {
                nlohmann::json event = {{"ts", util::format_iso8601(s.start + (kind[0] == 's' ? 120 : 0))},
                                        {"event", kind},
                                        {"tenant", tenant},
                                        {"stream", stream.name},
                                        {"viewer_ip", s.ip},
                                        {"user_agent", s.agent}};
                if (s.viewer > 0) event["viewer_email"] = m_viewers[static_cast<std::size_t>(s.viewer - 1)].email;
                out << event.dump() << "\n";
                m_truth.add(tenant, "events", "streaming-data");
                if (s.viewer > 0) m_truth.add_subject(s.viewer, "events");
            }
        }
        files.clear();  // flush and close before appending below
        // One event line a buggy client wrote half of.
        std::ofstream(dir / ("events-" + util::format_iso8601(m_now).substr(0, 10) + ".jsonl"), std::ios::app)
            << "{\"ts\": \"" << util::format_iso8601(m_now) << "\", \"event\": \"pla\n";
        m_truth.malformed("events");
    }

    void write_recordings(const std::filesystem::path& dir) {
        for (const auto& stream : m_streams) {
            std::string tenant = tenant_id(stream.tenant);
            std::filesystem::create_directories(dir / "recordings" / tenant);
            std::filesystem::create_directories(dir / "captions" / tenant);
            std::filesystem::create_directories(dir / "hls" / tenant);
            if (stream.name != "main") continue;
            for (int day = m_options.days - 1; day >= 0; day -= 3) {
                std::int64_t t = time_in_day(day);
                auto name = stream.name + "-" + util::format_utc(t, "%Y%m%d-%H%M%S");
                std::string flv = std::string("FLV\x01\x05\0\0\0\x09", 9) + m_random.hex(2048);
                if (m_bucket) {
                    m_bucket->put("recordings/" + tenant + "/" + name + ".flv", flv);
                } else {
                    auto flv_path = dir / "recordings" / tenant / (name + ".flv");
                    util::write_file_atomically(flv_path, flv, 0600);
                    set_mtime(flv_path, t + 3600);
                }
                m_truth.add(tenant, "recordings", "recordings");
                auto vtt_path = dir / "captions" / tenant / (name + ".en.vtt");
                util::write_file_atomically(
                    vtt_path, "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nWelcome to " + tenant + ".\n", 0600);
                set_mtime(vtt_path, t + 3700);
                m_truth.add(tenant, "captions", "ai-generated");
            }
        }
    }

    // Recordings in a directory, or as the objects write_recordings() put in the bucket.
    nlohmann::json recordings_source() const {
        nlohmann::json source = {
            {"name", "recordings"},
            {"kind", "files"},
            {"path", "recordings"},
            {"include", {"*.flv", "*.mp4"}},
            {"category", "recordings"},
            {"tenant", {{"regex", "^([^/]+)/"}}},
            {"timestamp",
             {{"format", "pattern"}, {"regex", "-([0-9]{8}-[0-9]{6})\\.[a-z0-9]+$"}, {"pattern", "%Y%m%d-%H%M%S"}}}};
        if (m_options.objects != "s3") return source;
        source.erase("path");
        source["kind"] = "s3";
        source["endpoint"] = m_options.s3_endpoint;
        source["bucket"] = m_options.s3_bucket;
        source["prefix"] = "recordings/";
        source["credentials_file"] = std::filesystem::absolute(m_options.s3_credentials_file).string();
        return source;
    }

    // The bucket --objects s3 names, made when it does not exist yet.
    static std::unique_ptr<connectors::s3::Client> open_bucket(const SeedOptions& options) {
        if (options.objects != "s3") return nullptr;
        if (options.s3_endpoint.empty() || options.s3_credentials_file.empty())
            throw std::runtime_error("--objects s3 needs --s3-endpoint and --s3-credentials-file");
        connectors::s3::Endpoint endpoint;
        endpoint.url = options.s3_endpoint;
        endpoint.bucket = options.s3_bucket;
        endpoint.credentials = connectors::s3::read_credentials_file(options.s3_credentials_file);
        endpoint.source = "refstack";
        auto bucket = std::make_unique<connectors::s3::Client>(endpoint);
        try {
            bucket->create_bucket();
        } catch (const std::exception&) {
            bucket->list("", [](const connectors::s3::ObjectVersion&) {});  // it exists, and may be used
        }
        return bucket;
    }

    nlohmann::json platform_database_source(const nlohmann::json& tables, const nlohmann::json& own_tenant) const {
        nlohmann::json source = {{"name", "platform-db"}};
        if (m_options.db == "postgres") {
            source["kind"] = "postgres";
            source["connection"] = m_options.postgres.connection;
            if (!m_options.postgres.password_file.empty())
                source["password_file"] = m_options.postgres.password_file.string();
        } else {
            source["kind"] = "sqlite";
            source["path"] = "platform.db";
        }
        source["tables"] = tables;
        source["tenant_tables"] = {{{"table", "tenants"}, {"tenant", {{"column", "id"}}}, {"names", {"name"}}},
                                   {{"table", "webinars"}, {"tenant", own_tenant}},
                                   {{"table", "storage_settings"}, {"tenant", own_tenant}}};
        return source;
    }

    void write_config(const std::filesystem::path& path) {
        auto table = [](const char* name, const char* category, nlohmann::json personal, nlohmann::json subjects,
                        nlohmann::json tenant, nlohmann::json timestamp) {
            nlohmann::json t = {{"table", name}, {"category", category}, {"personal", personal}};
            if (!subjects.is_null()) t["subjects"] = subjects;
            if (!tenant.is_null()) t["tenant"] = tenant;
            if (!timestamp.is_null()) t["timestamp"] = timestamp;
            return t;
        };
        nlohmann::json via_stream = {{"column", "tenant_id"},
                                     {"via", {{{"table", "streams"}, {"from", "stream_id"}, {"to", "id"}}}}};
        nlohmann::json via_session = {{"column", "tenant_id"},
                                      {"via",
                                       {{{"table", "sessions"}, {"from", "session_id"}, {"to", "id"}},
                                        {{"table", "streams"}, {"from", "stream_id"}, {"to", "id"}}}}};
        nlohmann::json via_webinar = {{"column", "tenant_id"},
                                      {"via", {{{"table", "webinars"}, {"from", "webinar_id"}, {"to", "id"}}}}};
        nlohmann::json own_tenant = {{"column", "tenant_id"}};
        // Viewing statistics keep their counts when a viewer is erased; the person goes.
        auto kept_for_statistics = [](nlohmann::json t) {
            t["erase"] = "anonymise";
            return t;
        };
        // A session's statistics are its viewer's whatever address they were sent to.
        auto owned_by_session = [](nlohmann::json t) {
            t["owner"] = "session_id";
            return t;
        };
        auto iso = [](const char* column) { return nlohmann::json{{"column", column}, {"format", "iso8601"}}; };
        nlohmann::json tables = nlohmann::json::array({
            table("administrators", "administrator-accounts", {"username", "full_name", "phone", "password_hash"},
                  {{"email", {"email"}}}, own_tenant, iso("created_at")),
            table("streams", "streaming-data", {"stream_key"}, {{"stream_key", {"stream_key"}}}, own_tenant,
                  {{"column", "created_at"}, {"format", "unix"}}),
            table("viewers", "streaming-data", {"display_name"}, {{"email", {"email"}}, {"user", {"id"}}}, nullptr,
                  iso("created_at")),
            kept_for_statistics(table("sessions", "streaming-data", {"user_agent"},
                                      {{"ip", {"ip"}}, {"user", {"viewer_id"}}}, via_stream,
                                      {{"column", "started_at"}, {"format", "unix_ms"}})),
            owned_by_session(kept_for_statistics(table("viewer_stats", "streaming-data", nlohmann::json::array(),
                                                       {{"ip", {"ip"}}}, via_session, iso("recorded_at")))),
            table("registrations", "webinar-participants", {"name", "company"},
                  {{"email", {"email"}}, {"user", {"viewer_id"}}}, via_webinar, iso("registered_at")),
            table("chat_messages", "webinar-participants", {"body"}, nullptr, via_webinar, iso("sent_at")),
            table("questions", "webinar-participants", {"body"}, nullptr, via_webinar, iso("asked_at")),
            table("captions", "ai-generated", {"text"}, nullptr, via_stream, iso("created_at")),
            table("vocabularies", "ai-generated", {"term"}, nullptr, own_tenant, iso("created_at")),
            table("endpoints", "configuration", {"url"}, nullptr, own_tenant, iso("created_at")),
        });
        nlohmann::json config = {
            {"platform", "refstack"},
            {"state_dir", ".gdprctl"},
            {"settings",
             {{"endpoints",
               {{{"name", "ingest"}, {"direction", "ingest"}, {"url", "rtmps://ingest.example.net/live"}},
                {{"name", "ingest-srt"},
                 {"direction", "ingest"},
                 {"url", "srt://ingest.example.net:9000?streamid=live&passphrase=${SRT_PASSPHRASE}"}},
                {{"name", "player"}, {"direction", "egress"}, {"url", "https://player.example.net/hls/"}}}},
              {"recording_default", "off"},
              {"storage_regions", {"eu-central-1", "eu-west-3"}}}},
            {"sources",
             {platform_database_source(tables, own_tenant),
              {{"name", "access-log"},
               {"kind", "logfile"},
               {"path", "logs/access.log*"},
               {"format", k_access_format},
               {"category", "usage-data"},
               {"personal", {"http_user_agent"}},
               {"subjects", {{"ip", {"remote_addr", "http_x_forwarded_for"}}}},
               {"ignore", {"http_referer"}},
               {"reopen", {{"pid_file", "run/nginx.pid"}, {"signal", "USR1"}}},
               {"tenant", {{"field", "request"}, {"regex", "^[A-Z]+ /hls/([^/]+)/"}}}},
              {{"name", "rtmp-log"},
               {"kind", "logfile"},
               {"path", "logs/rtmp_access.log*"},
               {"format", "rtmp"},
               {"category", "usage-data"},
               {"personal", {"flashver", "pageurl"}},
               {"subjects", {{"ip", {"remote_addr"}}, {"stream_key", {"args"}}}},
               {"reopen", {{"pid_file", "run/nginx.pid"}, {"signal", "USR1"}}},
               {"tenant", {{"field", "app"}}}},
              {{"name", "events"},
               {"kind", "logfile"},
               {"path", "events/*.jsonl"},
               {"format", "jsonl"},
               {"category", "streaming-data"},
               {"personal", {"user_agent"}},
               {"subjects", {{"ip", {"viewer_ip"}}, {"email", {"viewer_email"}}}},
               {"tenant", {{"field", "tenant"}}},
               {"timestamp", {{"field", "ts"}, {"format", "iso8601"}}}},
              recordings_source(),
              {{"name", "hls"},
               {"kind", "files"},
               {"path", "hls"},
               {"include", {"*.ts", "*.m3u8"}},
               {"category", "recordings"},
               {"tenant", {{"regex", "^([^/]+)/"}}}},
              {{"name", "captions"},
               {"kind", "files"},
               {"path", "captions"},
               {"include", {"*.vtt"}},
               {"category", "ai-generated"},
               {"tenant", {{"regex", "^([^/]+)/"}}},
               {"timestamp", {{"format", "mtime"}}}}}},
        };
        util::write_file_atomically(path, config.dump(2) + "\n", 0644);
    }

    SeedOptions m_options;
    Random m_random;
    std::int64_t m_now;
    std::vector<Viewer> m_viewers;
    std::unique_ptr<connectors::s3::Client> m_bucket;  // --objects s3
    std::vector<Stream> m_streams;
    std::vector<Session> m_sessions;
    std::map<int, std::vector<std::size_t>> m_sessions_by_day;
    std::map<int, std::set<int>> m_viewer_tenants;
    Truth m_truth;
};

}  // namespace

std::string tenant_id(int index) {
    if (index < static_cast<int>(std::size(k_tenant_ids))) return k_tenant_ids[index];
    return "tenant" + std::to_string(index + 1);
}

nlohmann::json seed_platform(const SeedOptions& options) {
    if (options.tenants < 1 || options.viewers < 1 || options.days < 1)
        throw std::invalid_argument("--tenants, --viewers and --days must be at least 1");
    if (options.db != "sqlite" && options.db != "postgres")
        throw std::invalid_argument("--db must be sqlite or postgres, not \"" + options.db + "\"");
    std::filesystem::create_directories(options.dir);
    return Seeder(options).run();
}

}  // namespace gdprctl::refstack
