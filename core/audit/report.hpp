#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/backup/backup.hpp"
#include "core/breaches/breaches.hpp"
#include "core/erase/erase.hpp"
#include "core/journal/journal.hpp"
#include "core/policy/check.hpp"
#include "core/requests/requests.hpp"
#include "core/ropa/register.hpp"

namespace gdprctl::audit {

// Everything an audit report is made of, gathered by the caller.
struct ReportInput {
    std::string platform;
    std::string version;
    util::UnixTime now = 0;
    std::optional<std::string> tenant;  // a processor's report for one controller
    const ropa::Register& reg;
    const policy::CheckResult& check;
    const policy::LiveFacts& live;
    const policy::PolicySet& policies;
    const std::vector<policy::SourceDatasets>& sources;
    std::vector<backup::BackupFile> backups;
    journal::VerifyResult journal;
    std::string journal_head;  // hash of the newest entry
    std::vector<erase::RequestSummary> erasures;
    std::vector<journal::Entry> journal_entries;  // the purges and checks are read from these
    std::vector<requests::Request> requests;
    std::vector<breaches::Breach> breaches;
};

// The report as data: every number the HTML and Markdown renderings show comes from here.
// A tenant report holds only that tenant's rows, backups, controller entry and findings.
nlohmann::json build_report(const ReportInput& input);

// One self-contained page: inline CSS and SVG, one inline script (table sorting) allowed by a
// Content-Security-Policy that forbids every fetch, so the page never calls out.
std::string render_html(const nlohmann::json& report);
std::string render_markdown(const nlohmann::json& report);

}  // namespace gdprctl::audit
