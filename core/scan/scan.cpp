#include "core/scan/scan.hpp"

#include "core/scan/linked.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <tuple>
#include <cstdio>
#include <sstream>

#include "core/error.hpp"
#include "core/journal/journal.hpp"
#include "core/pii/detect.hpp"

#include <spdlog/spdlog.h>
#include "core/util/time.hpp"

namespace gdprctl::scan {

namespace {

std::string day_of(const std::optional<util::UnixTime>& t) { return t ? util::format_iso8601(*t).substr(0, 10) : "-"; }

std::string human_bytes(std::uint64_t bytes) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1024 && unit < 4) {
        value /= 1024;
        ++unit;
    }
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, unit ? "%.1f %s" : "%.0f %s", value, units[unit]);
    return buffer;
}

std::string pad(const std::string& text, std::size_t width) {
    return text.size() >= width ? text + " " : text + std::string(width - text.size(), ' ');
}

nlohmann::json counts_for_journal(const ScanReport& report) {
    nlohmann::json counts = nlohmann::json::object();
    for (const auto& source : report.sources) {
        std::uint64_t records = 0;
        for (const auto& row : source.inventory.rows) records += row.records;
        counts[source.name] = {{"records", records},
                               {"undeclared", source.inventory.undeclared.size()},
                               {"malformed", source.inventory.malformed}};
    }
    return counts;
}

// Datasets keep the data map's order; within one, tenants are sorted.
void sort_rows(std::vector<connectors::InventoryRow>& rows) {
    std::map<std::string, std::size_t> order;
    for (const auto& row : rows) order.emplace(row.dataset, order.size());
    std::stable_sort(rows.begin(), rows.end(), [&](const auto& a, const auto& b) {
        return std::tie(order[a.dataset], a.tenant) < std::tie(order[b.dataset], b.tenant);
    });
}

}  // namespace

std::uint64_t ScanReport::total_records() const {
    std::uint64_t total = 0;
    for (const auto& source : sources)
        for (const auto& row : source.inventory.rows) total += row.records;
    return total;
}

std::uint64_t ScanReport::total_undeclared() const {
    std::uint64_t total = 0;
    for (const auto& source : sources) total += source.inventory.undeclared.size();
    return total;
}

nlohmann::json ScanReport::to_json() const {
    nlohmann::json out = {{"platform", platform}, {"started", started}, {"seconds", seconds}};
    out["sources"] = nlohmann::json::array();
    for (const auto& source : sources) {
        nlohmann::json s = {{"name", source.name},
                            {"kind", source.kind},
                            {"bytes_read", source.inventory.bytes_read},
                            {"malformed", source.inventory.malformed}};
        if (!source.inventory.first_malformed.empty()) s["first_malformed"] = source.inventory.first_malformed;
        s["inventory"] = nlohmann::json::array();
        for (const auto& row : source.inventory.rows) {
            nlohmann::json r = {{"dataset", row.dataset},
                                {"category", row.category},
                                {"tenant", row.tenant},
                                {"records", row.records},
                                {"bytes", row.bytes}};
            r["oldest"] = row.oldest ? nlohmann::json(util::format_iso8601(*row.oldest)) : nlohmann::json(nullptr);
            r["newest"] = row.newest ? nlohmann::json(util::format_iso8601(*row.newest)) : nlohmann::json(nullptr);
            s["inventory"].push_back(r);
        }
        s["undeclared"] = nlohmann::json::array();
        for (const auto& finding : source.inventory.undeclared)
            s["undeclared"].push_back({{"location", finding.location},
                                       {"detector", finding.detector},
                                       {"hits", finding.hits},
                                       {"sampled", finding.sampled}});
        out["sources"].push_back(s);
    }
    out["totals"] = {{"records", total_records()}, {"undeclared", total_undeclared()}};
    return out;
}

std::string ScanReport::to_text() const {
    std::ostringstream out;
    out << "Inventory of \"" << platform << "\" (" << sources.size() << " sources, " << total_records() << " records, "
        << std::fixed;
    out.precision(1);
    out << seconds << " s)\n\n";
    out << pad("DATASET", 34) << pad("CATEGORY", 24) << pad("TENANT", 14) << pad("RECORDS", 10) << pad("BYTES", 11)
        << pad("OLDEST", 11) << "NEWEST\n";
    for (const auto& source : sources)
        for (const auto& row : source.inventory.rows)
            out << pad(row.dataset, 34) << pad(row.category, 24) << pad(row.tenant.empty() ? "-" : row.tenant, 14)
                << pad(std::to_string(row.records), 10) << pad(human_bytes(row.bytes), 11)
                << pad(day_of(row.oldest), 11) << day_of(row.newest) << "\n";
    bool any_undeclared = total_undeclared() > 0;
    out << "\nUndeclared personal data: " << (any_undeclared ? "" : "none found in the sampled values") << "\n";
    for (const auto& source : sources)
        for (const auto& finding : source.inventory.undeclared)
            out << "  " << pad(source.name, 20) << pad(finding.location, 30) << pad(finding.detector, 7) << finding.hits
                << " of " << finding.sampled << " sampled values\n";
    for (const auto& source : sources)
        if (source.inventory.malformed)
            out << "Malformed records in " << source.name << ": " << source.inventory.malformed << " (first at "
                << source.inventory.first_malformed << ")\n";
    if (any_undeclared) out << "\nDeclare these fields in the data map (or list them under \"ignore\").\n";
    return out.str();
}

ScanReport run_scan(const config::Workspace& workspace, const SourceOpener& open_sources, const ScanOptions& options) {
    state::StateDb state(workspace.state_dir);
    journal::Journal journal(state);
    auto selector_json = options.selector.to_json();
    try {
        auto connectors = open_sources(workspace);
        ScanReport report;
        report.platform = workspace.platform;
        report.started = util::format_iso8601(util::now());
        auto start = std::chrono::steady_clock::now();
        // A person is scanned for as export and erase find them: with the identifiers their
        // records link to.
        auto selector = options.selector.subjects.empty() ? options.selector
                                                          : resolve_subjects(options.selector, connectors).selector;
        for (std::size_t i = 0; i < connectors.size(); ++i) {
            auto& connector = *connectors[i];
            if (options.progress) options.progress(i, connectors.size(), connector.source().name);
            auto source_start = std::chrono::steady_clock::now();
            auto inventory = connector.inventory(selector, options.inventory);
            spdlog::info(
                "{}",
                pii::redact(fmt::format(
                    "source \"{}\" ({}): {} rows, {} bytes read, {} malformed, in {:.2f} s", connector.source().name,
                    connector.source().path.string(), inventory.rows.size(), inventory.bytes_read, inventory.malformed,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - source_start).count())));
            // Streams yield tenants in the order they meet them; people read them sorted.
            sort_rows(inventory.rows);
            report.sources.push_back({connector.source().name, connector.source().kind, std::move(inventory)});
        }
        report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        journal.append("scan", selector_json, workspace.source_names(), counts_for_journal(report),
                       report.total_undeclared() ? "findings" : "ok");
        return report;
    } catch (const Error& e) {
        journal.append("scan", selector_json, workspace.source_names(), nlohmann::json::object(),
                       std::string("error: ") + e.what());
        throw;
    }
}

}  // namespace gdprctl::scan
