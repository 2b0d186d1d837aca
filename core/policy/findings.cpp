#include "core/policy/findings.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "core/config/reader.hpp"
#include "core/crypto/primitives.hpp"
#include "core/util/escape.hpp"
#include "core/util/fs.hpp"
#include "core/util/time.hpp"

namespace gdprctl::policy {

namespace {

// SARIF's result levels are gdprctl's severity names.
const char* sarif_level(Severity severity) { return severity_name(severity); }

// Lines of the files findings point into, read once per report.
class LineIndex {
public:
    std::size_t line(const std::string& file, const std::string& pointer) {
        if (file.empty()) return 0;
        auto it = m_texts.find(file);
        if (it == m_texts.end()) {
            std::string text;
            try {
                text = util::read_file(file);
            } catch (const std::exception&) {
            }
            it = m_texts.emplace(file, std::move(text)).first;
        }
        if (it->second.empty()) return 0;
        return std::max<std::size_t>(1, config::line_of_pointer(it->second, pointer));
    }

private:
    std::map<std::string, std::string> m_texts;
};

std::string relative_uri(const std::string& file, const std::string& base_dir) {
    std::filesystem::path path(file);
    if (!base_dir.empty() && path.is_absolute()) {
        auto relative = path.lexically_relative(base_dir);
        if (!relative.empty() && relative.begin()->string() != "..") return relative.generic_string();
    }
    return path.generic_string();
}

// Stable across runs and unaffected by line moves, so code-scanning services can tell a new
// finding from one they have seen before.
std::string fingerprint(const Finding& finding) {
    crypto::Sha256 hash;
    std::string key = finding.rule + "\n" + finding.where + "\n" + finding.message;
    hash.update(reinterpret_cast<const unsigned char*>(key.data()), key.size());
    return hash.hex().substr(0, 32);
}

std::string hostname() {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
    return name;
}

}  // namespace

nlohmann::json Finding::to_json() const {
    nlohmann::json json = {
        {"policy", rule}, {"severity", severity_name(severity)}, {"where", where}, {"message", message}, {"fix", fix}};
    if (!file.empty()) json["file"] = file;
    if (!pointer.empty()) json["pointer"] = pointer;
    return json;
}

std::size_t CheckResult::count_at_least(Severity threshold) const {
    return static_cast<std::size_t>(std::count_if(findings.begin(), findings.end(), [&](const Finding& finding) {
        return static_cast<int>(finding.severity) >= static_cast<int>(threshold);
    }));
}

std::string findings_text(const CheckResult& result) {
    std::ostringstream out;
    LineIndex lines;
    for (const auto& finding : result.findings) {
        out << severity_name(finding.severity) << "  " << finding.rule << "  " << finding.where << "\n";
        if (!finding.file.empty()) {
            out << "    at " << finding.file;
            if (auto line = lines.line(finding.file, finding.pointer)) out << ":" << line;
            if (!finding.pointer.empty()) out << " (" << finding.pointer << ")";
            out << "\n";
        } else if (!finding.pointer.empty()) {
            out << "    at " << finding.pointer << " of the register in the state database\n";
        }
        out << "    " << finding.message << "\n";
        if (!finding.fix.empty()) out << "    fix: " << finding.fix << "\n";
    }
    std::size_t errors = result.count_at_least(Severity::error);
    std::size_t warnings = result.count_at_least(Severity::warning) - errors;
    out << result.rules.size() << " policies checked" << (result.live ? " (with the live inventory)" : "") << ": "
        << errors << " error(s), " << warnings << " warning(s), " << result.findings.size() - errors - warnings
        << " note(s).\n";
    return out.str();
}

nlohmann::json findings_json(const CheckResult& result) {
    nlohmann::json json = {
        {"live", result.live}, {"policies", nlohmann::json::array()}, {"findings", nlohmann::json::array()}};
    for (const auto& rule : result.rules) {
        auto failed = std::count_if(result.findings.begin(), result.findings.end(),
                                    [&](const Finding& finding) { return finding.rule == rule.id; });
        json["policies"].push_back({{"id", rule.id},
                                    {"kind", rule.kind},
                                    {"severity", severity_name(rule.severity)},
                                    {"article", rule.article},
                                    {"findings", failed}});
    }
    for (const auto& finding : result.findings) json["findings"].push_back(finding.to_json());
    return json;
}

std::string findings_sarif(const CheckResult& result, const std::string& tool_version, const std::string& base_dir) {
    nlohmann::json rules = nlohmann::json::array();
    std::map<std::string, std::size_t> rule_index;
    for (const auto& rule : result.rules) {
        rule_index[rule.id] = rules.size();
        rules.push_back({{"id", rule.id},
                         {"name", rule.kind},
                         {"shortDescription", {{"text", rule.rationale}}},
                         {"fullDescription", {{"text", rule.rationale + " (" + rule.article + ")"}}},
                         {"help", {{"text", rule.article + ": " + rule.rationale}}},
                         {"defaultConfiguration", {{"level", sarif_level(rule.severity)}}},
                         {"properties", {{"tags", {"gdpr", "privacy"}}}}});
    }
    LineIndex lines;
    nlohmann::json results = nlohmann::json::array();
    for (const auto& finding : result.findings) {
        nlohmann::json location = nlohmann::json::object();
        if (!finding.file.empty()) {
            location["physicalLocation"] = {
                {"artifactLocation", {{"uri", relative_uri(finding.file, base_dir)}, {"uriBaseId", "SRCROOT"}}},
                {"region", {{"startLine", lines.line(finding.file, finding.pointer)}}}};
        }
        location["logicalLocations"] = {{{"fullyQualifiedName", finding.where}, {"kind", "object"}}};
        nlohmann::json entry = {
            {"ruleId", finding.rule},
            {"level", sarif_level(finding.severity)},
            {"message", {{"text", finding.message + (finding.fix.empty() ? "" : " Fix: " + finding.fix)}}},
            {"locations", {location}},
            {"partialFingerprints", {{"gdprctlFinding/v1", fingerprint(finding)}}}};
        if (auto it = rule_index.find(finding.rule); it != rule_index.end()) entry["ruleIndex"] = it->second;
        results.push_back(entry);
    }
    std::string root = base_dir.empty() ? std::filesystem::current_path().string() : base_dir;
    if (root.back() != '/') root += '/';
    nlohmann::json run = {{"tool",
                           {{"driver",
                             {{"name", "gdprctl"},
                              {"version", tool_version},
                              {"informationUri", "https://example.invalid/gdprctl"},
                              {"rules", rules}}}}},
                          {"originalUriBaseIds", {{"SRCROOT", {{"uri", "file://" + root}}}}},
                          {"results", results}};
    nlohmann::json sarif = {
        {"$schema", "https://json.schemastore.org/sarif-2.1.0.json"}, {"version", "2.1.0"}, {"runs", {run}}};
    return sarif.dump(2) + "\n";
}

std::string findings_junit(const CheckResult& result, const std::string& suite_name) {
    std::size_t failures = 0;
    std::ostringstream cases;
    for (const auto& rule : result.rules) {
        std::vector<const Finding*> own;
        for (const auto& finding : result.findings)
            if (finding.rule == rule.id) own.push_back(&finding);
        cases << "  <testcase name=\"" << util::markup_escape(rule.id) << "\" classname=\"gdprctl.policy."
              << util::markup_escape(rule.kind) << "\" time=\"0\">";
        if (!own.empty()) {
            ++failures;
            cases << "\n    <failure message=\"" << own.size()
                  << " finding(s): " << util::markup_escape(own.front()->message) << "\" type=\""
                  << severity_name(own.front()->severity) << "\">";
            for (const auto* finding : own)
                cases << util::markup_escape(std::string(severity_name(finding->severity)) + " " + finding->where +
                                             ": " + finding->message +
                                             (finding->fix.empty() ? "" : " Fix: " + finding->fix))
                      << "\n";
            cases << "</failure>\n  ";
        }
        cases << "</testcase>\n";
    }
    std::string timestamp = util::format_iso8601(util::now()).substr(0, 19);
    std::ostringstream out;
    out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"" << util::markup_escape(suite_name)
        << "\" timestamp=\"" << timestamp << "\" hostname=\"" << util::markup_escape(hostname()) << "\" tests=\""
        << result.rules.size() << "\" failures=\"" << failures << "\" errors=\"0\" skipped=\"0\" time=\"0\">\n"
        << "  <properties>\n    <property name=\"live\" value=\"" << (result.live ? "true" : "false")
        << "\"/>\n  </properties>\n"
        << cases.str() << "  <system-out/>\n  <system-err/>\n</testsuite>\n";
    return out.str();
}

}  // namespace gdprctl::policy
