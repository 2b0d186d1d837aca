#include "core/erase/certificate.hpp"

#include <sstream>

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
                          : std::to_string(member(erased, "identifiers").size()) +
                                " identifier(s) of one person, as salted SHA-256 (salt " + text_of(erased["salt"]) +
                                ")";
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

}  // namespace

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
