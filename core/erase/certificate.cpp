#include "core/erase/certificate.hpp"

#include <set>
#include <sstream>
#include <vector>

#include "core/error.hpp"
#include "core/util/escape.hpp"
#include "core/util/fs.hpp"
#include "core/util/hex.hpp"

namespace gdprctl::erase {

namespace {

std::filesystem::path key_path(const std::filesystem::path& state_dir) { return state_dir / "signing.key"; }

std::string text_of(const nlohmann::json& value) {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_null()) return "";
    return value.dump();
}

const nlohmann::json& member(const nlohmann::json& object, const char* key) {
    static const nlohmann::json none;
    auto found = object.find(key);
    return found == object.end() ? none : *found;
}

// One table, for Markdown or HTML: the header, then one row per source.
struct Table {
    std::vector<std::string> header;
    std::vector<std::vector<std::string>> rows;
};

Table sources_table(const nlohmann::json& body) {
    Table table{{"source", "kind", "method (NIST SP 800-88)", "records", "bytes", "what"}, {}};
    for (const auto& source : member(body, "sources")) {
        std::string what;
        for (const auto& action : member(source, "actions"))
            what += (what.empty() ? "" : "; ") + text_of(action["dataset"]) + ": " + text_of(action["what"]) + " " +
                    text_of(action["records"]);
        table.rows.push_back({text_of(source["source"]), text_of(source["kind"]), text_of(source["method"]),
                              text_of(source["records"]), text_of(source["bytes"]),
                              what.empty() ? "nothing held" : what});
    }
    return table;
}

std::vector<std::pair<std::string, std::string>> summary_of(const nlohmann::json& body) {
    const auto& erased = member(body, "erased");
    const auto& verification = member(body, "verification");
    const auto& backups = member(body, "backups");
    std::string who = text_of(erased["kind"]) == "tenant"
                          ? "tenant " + text_of(erased["tenant"])
                          : std::to_string(member(erased, "identifiers").size()) + " identifier(s) of one person, " +
                                (member(erased, "hash_key").is_null()
                                     ? "as salted SHA-256 (salt " + text_of(erased["salt"]) + ")"
                                     : "as HMAC-SHA256 under the platform's identifier key " +
                                           text_of(erased["hash_key"]) + " (salt " + text_of(erased["salt"]) + ")");
    return {{"Request", text_of(body["request"])},
            {"Issued", text_of(body["issued"])},
            {"Platform", text_of(body["platform"])},
            {"Erased", who},
            {"Backups", text_of(backups["method"]) + (backups.contains("note") ? ": " + text_of(backups["note"]) : "")},
            {"Verification", text_of(verification["result"]) + " after rescanning " +
                                 std::to_string(member(verification, "sources").size()) + " sources (" +
                                 text_of(verification["records_scanned"]) + " records, " +
                                 text_of(verification["bytes_scanned"]) + " bytes, " +
                                 text_of(verification["patterns"]) + " patterns) at " + text_of(verification["time"])},
            {"Tool", "gdprctl " + text_of(member(body, "tool")["version"])},
            {"Journal head", text_of(member(body, "journal_head")["hash"])}};
}

// Finds what would let two readers of one certificate see different content: a member name
// twice in one object (most parsers keep the last, some the first), or a number that is not an
// integer (1.0, 1e2, a float beyond double precision).
class StrictJsonCheck : public nlohmann::json_sax<nlohmann::json> {
public:
    std::string problem;

    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    // The signed bytes hold integers only; a fraction or exponent is read differently by
    // different parsers (precision, 1.0 against 1).
    bool number_float(number_float_t, const string_t& raw) override {
        return refuse("the number " + util::printable(raw) + " is not an integer, and certificates hold integers only");
    }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override {
        m_names.emplace_back();
        return true;
    }
    bool key(string_t& name) override {
        if (m_names.back().insert(name).second) return true;
        return refuse("the member \"" + util::printable(name) +
                      "\" appears twice in one object: readers disagree on which one counts");
    }
    bool end_object() override {
        m_names.pop_back();
        return true;
    }
    bool start_array(std::size_t) override { return true; }
    bool end_array() override { return true; }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& error) override {
        return refuse(std::string("not valid JSON (") + error.what() + ")");
    }

private:
    bool refuse(std::string why) {
        problem = std::move(why);
        return false;
    }
    std::vector<std::set<std::string>> m_names;
};

// Members a reader could take for signed content although the signature does not cover them.
std::string unsigned_members(const nlohmann::json& document) {
    for (const auto& [name, value] : document.items())
        if (name != "certificate" && name != "signature") return "\"" + util::printable(name) + "\"";
    if (document.contains("signature") && document["signature"].is_object())
        for (const auto& [name, value] : document["signature"].items())
            if (name != "algorithm" && name != "public_key" && name != "value")
                return "\"signature." + util::printable(name) + "\"";
    return "";
}

}  // namespace

nlohmann::json parse_certificate(const std::string& text) {
    StrictJsonCheck check;
    if (!nlohmann::json::sax_parse(text, &check) || !check.problem.empty())
        throw Error::integrity("not a certificate as gdprctl signs them: " + check.problem,
                               "use the file 'gdprctl erase' wrote, or ask the platform for a new copy");
    auto document = nlohmann::json::parse(text);
    if (!document.is_object())
        throw Error::integrity("not a certificate as gdprctl signs them: the document is not a JSON object");
    if (auto extra = unsigned_members(document); !extra.empty())
        throw Error::integrity(
            "not a certificate as gdprctl signs them: the member " + extra + " is outside what the signature covers",
            "a gdprctl certificate holds only \"certificate\" and \"signature\"");
    return document;
}

IdentifierHashKey::IdentifierHashKey(crypto::SecretBytes key) : m_key(std::move(key)) {
    std::string label = "gdprctl/v1/identifier-key-id";
    crypto::Bytes message(label.begin(), label.end());
    message.insert(message.end(), m_key.data(), m_key.data() + m_key.size());
    auto digest = crypto::sha256(message.data(), message.size());
    m_id = util::to_hex(digest.data(), 8);
}

std::filesystem::path IdentifierHashKey::path_in(const std::filesystem::path& state_dir) {
    return state_dir / "identifier-hash.key";
}

IdentifierHashKey IdentifierHashKey::load_or_create(const std::filesystem::path& state_dir) {
    auto path = path_in(state_dir);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        auto key = crypto::random_key();
        auto hex = util::to_hex(key.data(), key.size()) + "\n";
        util::ensure_private_directory(state_dir);
        util::write_file_atomically(path, hex, 0600, util::Replace::never);
        OPENSSL_cleanse(hex.data(), hex.size());
        return IdentifierHashKey(std::move(key));
    }
    auto text = util::read_file(path);
    auto bytes = util::from_hex(text.substr(0, text.find('\n')));
    OPENSSL_cleanse(text.data(), text.size());
    if (!bytes || bytes->size() != crypto::k_key_size)
        throw Error::integrity(path.string() + " does not hold an identifier hash key (64 hex digits)",
                               "restore it from the state directory's backup: certificates name people by it");
    crypto::SecretBytes key(bytes->data(), bytes->size());
    OPENSSL_cleanse(bytes->data(), bytes->size());
    return IdentifierHashKey(std::move(key));
}

std::string IdentifierHashKey::hash(const std::string& salt, const std::string& text) const {
    auto message = salt + text;
    auto mac = crypto::hmac_sha256(m_key, reinterpret_cast<const unsigned char*>(message.data()), message.size());
    return util::to_hex(mac.data(), mac.size());
}

SigningKey::SigningKey(crypto::SecretBytes private_key)
    : m_private(std::move(private_key)), m_public(crypto::ed25519_public_from_private(m_private)) {}

SigningKey SigningKey::load_or_create(const std::filesystem::path& state_dir) {
    if (auto existing = load(state_dir)) return std::move(*existing);
    auto pair = crypto::ed25519_generate();
    auto pem = crypto::ed25519_private_pem(pair.private_key);
    util::ensure_private_directory(state_dir);
    util::write_file_atomically(key_path(state_dir), pem, 0600);
    OPENSSL_cleanse(pem.data(), pem.size());
    return SigningKey(std::move(pair.private_key));
}

std::optional<SigningKey> SigningKey::load(const std::filesystem::path& state_dir) {
    std::error_code ec;
    if (!std::filesystem::exists(key_path(state_dir), ec)) return std::nullopt;
    auto pem = util::read_file(key_path(state_dir));
    try {
        SigningKey key(crypto::ed25519_private_from_pem(pem));
        OPENSSL_cleanse(pem.data(), pem.size());
        return key;
    } catch (const Error&) {
        OPENSSL_cleanse(pem.data(), pem.size());
        throw Error::integrity(key_path(state_dir).string() + " holds no Ed25519 private key",
                               "restore the signing key from the state directory's backup");
    }
}

std::string signed_bytes(const nlohmann::json& certificate) { return certificate.dump(); }

nlohmann::json sign_certificate(const nlohmann::json& body, const SigningKey& key) {
    auto signature = key.sign(signed_bytes(body));
    return {{"certificate", body},
            {"signature",
             {{"algorithm", "Ed25519"},
              {"public_key", key.public_pem()},
              {"value", util::to_base64(signature.data(), signature.size())}}}};
}

CertificateCheck check_certificate(const nlohmann::json& document, const std::optional<crypto::Bytes>& trusted_key) {
    CertificateCheck check;
    check.key_given = trusted_key.has_value();
    if (!document.is_object() || !document.contains("certificate") || !document["certificate"].is_object() ||
        !document.contains("signature") || !document["signature"].is_object()) {
        check.problem = "not a gdprctl certificate: expected \"certificate\" and \"signature\" objects";
        return check;
    }
    const auto& body = document["certificate"];
    const auto& signature = document["signature"];
    check.request = text_of(member(body, "request"));
    if (text_of(member(signature, "algorithm")) != "Ed25519") {
        check.problem = "unknown signature algorithm \"" + text_of(member(signature, "algorithm")) + "\"";
        return check;
    }
    auto value = util::from_base64(text_of(member(signature, "value")));
    if (!value || value->size() != 64) {
        check.problem = "the signature is not 64 bytes of base64";
        return check;
    }
    crypto::Bytes key;
    try {
        key = trusted_key ? *trusted_key : crypto::ed25519_public_from_pem(text_of(member(signature, "public_key")));
    } catch (const Error&) {
        check.problem = "the embedded public key is not an Ed25519 key";
        return check;
    }
    check.valid = crypto::ed25519_verify(key, signed_bytes(body), *value);
    if (!check.valid)
        check.problem = trusted_key ? "the signature does not verify under the given key: the certificate was changed "
                                      "after signing, or another key signed it"
                                    : "the signature does not match the certificate: it was changed after signing";
    return check;
}

std::string certificate_markdown(const nlohmann::json& document) {
    const auto& body = member(document, "certificate");
    std::ostringstream out;
    out << "# Certificate of erasure\n\n";
    for (const auto& [label, value] : summary_of(body)) out << "- **" << label << ":** " << value << "\n";
    auto table = sources_table(body);
    out << "\n## What was done, per source\n\n|";
    for (const auto& cell : table.header) out << " " << cell << " |";
    out << "\n|";
    for (std::size_t i = 0; i < table.header.size(); ++i) out << "---|";
    out << "\n";
    for (const auto& row : table.rows) {
        out << "|";
        for (const auto& cell : row) out << " " << cell << " |";
        out << "\n";
    }
    const auto& held = member(member(body, "backups"), "still_holding");
    if (!held.empty()) {
        out << "\n## Backups that still hold the data until retention removes them\n\n";
        for (const auto& backup : held)
            out << "- " << text_of(backup["backup"]) << " (made " << text_of(backup["created"]) << "): removed by "
                << text_of(backup["removed_by_retention"]) << "; a restore re-applies this erasure\n";
    }
    out << "\n## Signature\n\nEd25519 over the `certificate` object as compact JSON with sorted keys; public "
           "key:\n\n```\n"
        << text_of(member(member(document, "signature"), "public_key")) << "```\n";
    return out.str();
}

std::string certificate_html(const nlohmann::json& document) {
    const auto& body = member(document, "certificate");
    auto e = [](const std::string& text) { return util::markup_escape(text); };
    std::ostringstream out;
    out << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
           "<title>Certificate of erasure "
        << e(text_of(body["request"]))
        << "</title><style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
           "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.3rem .5rem;text-align:left}"
           "pre{background:#f4f4f4;padding:.5rem}</style></head><body>\n<h1>Certificate of erasure</h1>\n<dl>\n";
    for (const auto& [label, value] : summary_of(body))
        out << "<dt>" << e(label) << "</dt><dd>" << e(value) << "</dd>\n";
    out << "</dl>\n<h2>What was done, per source</h2>\n<table><tr>";
    auto table = sources_table(body);
    for (const auto& cell : table.header) out << "<th>" << e(cell) << "</th>";
    out << "</tr>\n";
    for (const auto& row : table.rows) {
        out << "<tr>";
        for (const auto& cell : row) out << "<td>" << e(cell) << "</td>";
        out << "</tr>\n";
    }
    out << "</table>\n";
    const auto& held = member(member(body, "backups"), "still_holding");
    if (!held.empty()) {
        out << "<h2>Backups that still hold the data until retention removes them</h2>\n<ul>\n";
        for (const auto& backup : held)
            out << "<li>" << e(text_of(backup["backup"])) << " (made " << e(text_of(backup["created"]))
                << "): removed by " << e(text_of(backup["removed_by_retention"]))
                << "; a restore re-applies this erasure</li>\n";
        out << "</ul>\n";
    }
    out << "<h2>Signature</h2>\n<p>Ed25519 over the <code>certificate</code> object as compact JSON with sorted "
           "keys. Public key:</p>\n<pre>"
        << e(text_of(member(member(document, "signature"), "public_key"))) << "</pre>\n</body></html>\n";
    return out.str();
}

}  // namespace gdprctl::erase
