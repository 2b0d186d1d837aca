#include "core/scan/linked.hpp"

#include <algorithm>
#include <set>

#include "core/error.hpp"

namespace gdprctl::scan {

namespace {

std::string text_of(const nlohmann::json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); }

std::optional<connectors::Identifier> identifier_in(const nlohmann::json& record, const config::SubjectField& field) {
    auto found = record.find(field.field);
    if (found == record.end() || found->is_null()) return std::nullopt;
    try {
        return connectors::parse_identifier(field.kind + ":" + text_of(*found));
    } catch (const Error&) {
        return std::nullopt;  // anonymised already, or malformed: nothing to follow
    }
}

// Collects the identifiers recorded next to the selector's strong identifiers. Every subject
// field of one record identifies the same person: that is what the data map says.
class LinkedIdentifierSink : public connectors::RecordSink {
public:
    explicit LinkedIdentifierSink(const connectors::Selector& selector) : m_selector(selector) {}

    // Every record collect() gives for the lookup is the person's (by a strong identifier, or
    // through its owner), so each of its identifier columns names them.
    void record(const config::Dataset& dataset, const std::string&, const nlohmann::json& record) override {
        for (const auto& field : dataset.subjects)
            if (auto id = identifier_in(record, field); id && !m_selector.matches_subject(id->kind, id->value))
                found.insert({id->kind, id->value});
    }
    void blob(const config::Dataset&, const std::string&, const std::filesystem::path&, const std::string&) override {}
    void streamed_blob(const config::Dataset&, const std::string&, const connectors::StreamedBlob&) override {}

    std::set<std::pair<std::string, std::string>> found;

private:
    const connectors::Selector& m_selector;
};

// Finds, among records of the linked addresses, those that name someone else by a strong
// identifier: the address is shared.
class SharedAddressSink : public connectors::RecordSink {
public:
    SharedAddressSink(const connectors::Selector& person, const std::vector<connectors::Identifier>& addresses)
        : m_person(person), m_addresses(addresses) {}

    void record(const config::Dataset& dataset, const std::string&, const nlohmann::json& record) override {
        bool someone_else = false;
        for (const auto& field : dataset.subjects) {
            if (field.kind == "ip") continue;
            if (auto id = identifier_in(record, field); id && !m_person.matches_subject(id->kind, id->value))
                someone_else = true;
        }
        if (!someone_else) return;
        for (const auto& field : dataset.subjects) {
            if (field.kind != "ip") continue;
            if (auto id = identifier_in(record, field))
                for (const auto& address : m_addresses)
                    if (address.value == id->value) shared.insert(address.value);
        }
    }
    void blob(const config::Dataset&, const std::string&, const std::filesystem::path&, const std::string&) override {}
    void streamed_blob(const config::Dataset&, const std::string&, const connectors::StreamedBlob&) override {}

    std::set<std::string> shared;

private:
    const connectors::Selector& m_person;
    const std::vector<connectors::Identifier>& m_addresses;
};

// A source whose records name a person by more than one identifier: an e-mail and a user id
// in one row, or an identifier in a row that is theirs through its owner.
bool links_identifiers(const connectors::Connector& connector) {
    for (const auto& dataset : connector.datasets())
        if (dataset.subjects.size() > 1 || (!dataset.owner.empty() && !dataset.subjects.empty())) return true;
    return false;
}

connectors::Selector without_addresses(connectors::Selector selector) {
    auto& subjects = selector.subjects;
    subjects.erase(std::remove_if(subjects.begin(), subjects.end(),
                                  [](const connectors::Identifier& id) { return id.kind == "ip"; }),
                   subjects.end());
    return selector;
}

}  // namespace

ResolvedSubjects resolve_subjects(const connectors::Selector& selector, const Connectors& connectors) {
    ResolvedSubjects result;
    result.selector = selector;
    std::vector<connectors::Identifier> linked_addresses;
    for (int round = 0; round < 8; ++round) {
        auto lookup = without_addresses(result.selector);
        if (lookup.subjects.empty()) break;
        LinkedIdentifierSink sink(result.selector);
        for (const auto& connector : connectors)
            if (links_identifiers(*connector)) connector->collect(lookup, sink);
        bool new_strong = false;
        for (const auto& [kind, value] : sink.found) {
            result.selector.subjects.push_back({kind, value});
            if (kind == "ip") linked_addresses.push_back({kind, value});
            new_strong = new_strong || kind != "ip";
        }
        if (!new_strong) break;
    }
    if (!linked_addresses.empty()) {
        auto lookup = result.selector;
        lookup.subjects = linked_addresses;
        SharedAddressSink sink(result.selector, linked_addresses);
        for (const auto& connector : connectors)
            if (links_identifiers(*connector)) connector->collect(lookup, sink);
        auto& subjects = result.selector.subjects;
        for (const auto& address : sink.shared) result.shared.push_back({"ip", address});
        subjects.erase(
            std::remove_if(
                subjects.begin() + static_cast<std::ptrdiff_t>(selector.subjects.size()), subjects.end(),
                [&](const connectors::Identifier& id) { return id.kind == "ip" && sink.shared.count(id.value); }),
            subjects.end());
    }
    result.linked = result.selector.subjects.size() - selector.subjects.size();
    return result;
}

}  // namespace gdprctl::scan
