// Data subject requests against a real state database and keystore: the Art. 12(3) clock as
// Regulation 1182/71 counts months, the extension limit, identifiers that open only under the
// platform key and only for their own request, and the rules for closing.
#include "core/requests/requests.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"
#include "tests/support/temp_dir.hpp"

namespace gdprctl::requests {
namespace {

util::UnixTime at(const char* text) { return *util::parse_iso8601(text); }
std::string iso(util::UnixTime t) { return util::format_iso8601(t); }

TEST(RequestClock, AMonthEndsAtTheEndOfTheSameDateOrOfTheMonthThatHasNone) {
    EXPECT_EQ(iso(end_of_period(at("2026-11-20T09:00:00Z"), 1)), "2026-12-20T23:59:59Z");
    EXPECT_EQ(iso(end_of_period(at("2026-12-15T00:00:00Z"), 1)), "2027-01-15T23:59:59Z");
    EXPECT_EQ(iso(end_of_period(at("2026-01-31T10:00:00Z"), 1)), "2026-02-28T23:59:59Z");
    EXPECT_EQ(iso(end_of_period(at("2028-01-31T10:00:00Z"), 1)), "2028-02-29T23:59:59Z");
    EXPECT_EQ(iso(end_of_period(at("2026-11-30T23:59:59Z"), 3)), "2027-02-28T23:59:59Z");
    EXPECT_EQ(iso(end_of_period(at("2026-08-31T00:00:01Z"), 1)), "2026-09-30T23:59:59Z");
}

class RequestStoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        state = std::make_unique<state::StateDb>(dir / "state");
        keystore = std::make_unique<crypto::Keystore>(*state);
        keystore->init_with_key_file(dir / "master.key");
        store = std::make_unique<RequestStore>(*state, keystore.get());
    }

    Request open(const std::string& kind, const char* received) {
        NewRequest asked;
        asked.kind = kind;
        asked.subjects = {connectors::parse_identifier("email:Ann.Example@Example.org"),
                          connectors::parse_identifier("ip:198.51.100.7")};
        asked.received = at(received);
        asked.now = at(received);
        return store->open(asked);
    }

    testing::TempDir dir;
    std::unique_ptr<state::StateDb> state;
    std::unique_ptr<crypto::Keystore> keystore;
    std::unique_ptr<RequestStore> store;
};

TEST_F(RequestStoreTest, IdsCountUpPerYearAndTheIdentifiersOpenOnlyForTheirOwnRequest) {
    auto first = open("access", "2026-11-20T09:00:00Z");
    auto second = open("erasure", "2026-11-21T09:00:00Z");
    EXPECT_EQ(first.id, "rq-2026-0001");
    EXPECT_EQ(second.id, "rq-2026-0002");
    EXPECT_EQ(first.subject_kinds, (std::vector<std::string>{"email", "ip"}));
    auto subjects = store->subjects_of(store->load(first.id));
    ASSERT_EQ(subjects.size(), 2u);
    EXPECT_EQ(subjects[1].text(), "ip:198.51.100.7");

    // A sealed value moved to another request's row does not open there: it is bound to its id.
    state->db().exec(
        "UPDATE subject_requests SET sealed_subjects = (SELECT sealed_subjects FROM subject_requests WHERE id = "
        "'rq-2026-0001') WHERE id = 'rq-2026-0002'");
    try {
        store->subjects_of(store->load(second.id));
        FAIL() << "identifiers moved between requests opened";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::integrity);
    }
    // Without the keystore nothing opens and nothing is opened.
    RequestStore locked(*state, nullptr);
    EXPECT_THROW(locked.subjects_of(first), Error);
    NewRequest asked{"access", subjects, std::nullopt, "", at("2026-11-20T09:00:00Z"), at("2026-11-20T09:00:00Z")};
    EXPECT_THROW(locked.open(asked), Error);
}

TEST_F(RequestStoreTest, ExtensionsStopAtThreeMonthsFromReceiptAndMustBeToldWithinTheFirstMonth) {
    auto request = open("access", "2026-11-20T09:00:00Z");
    store->extend(request, {"2026-11-25T00:00:00Z", 1, "many archives"}, at("2026-11-25T00:00:00Z"));
    EXPECT_EQ(iso(request.due()), "2027-01-20T23:59:59Z");
    store->extend(request, {"2026-11-26T00:00:00Z", 1, "more still"}, at("2026-11-26T00:00:00Z"));
    EXPECT_EQ(iso(request.due()), "2027-02-20T23:59:59Z");
    EXPECT_THROW(store->extend(request, {"2026-11-27T00:00:00Z", 1, "again"}, at("2026-11-27T00:00:00Z")), Error);
    EXPECT_EQ(iso(store->load(request.id).due()), "2027-02-20T23:59:59Z");

    auto late = open("access", "2026-09-01T09:00:00Z");
    EXPECT_THROW(store->extend(late, {"2026-10-02T00:00:00Z", 1, "late"}, at("2026-10-02T00:00:00Z")), Error);
    EXPECT_TRUE(store->load(late.id).extensions.empty());
}

TEST_F(RequestStoreTest, ARequestClosesOnlyWithWhatItsKindNeeds) {
    auto erasure = open("erasure", "2026-11-20T09:00:00Z");
    EXPECT_THROW(store->close(erasure, {}, at("2026-11-22T00:00:00Z"), ""), Error) << "closed without an erasure";
    store->record_action(erasure, {"2026-11-21T00:00:00Z", "erase", "er-x", {}, ""}, {"EdgeCDN SE"});
    EXPECT_THROW(store->close(erasure, {}, at("2026-11-22T00:00:00Z"), "residue"), Error) << "closed uncertified";
    EXPECT_THROW(store->close(erasure, {}, at("2026-11-22T00:00:00Z"), "verified"), Error)
        << "closed with recipients untold";
    store->close(erasure, {"", false, "", "told"}, at("2026-11-22T00:00:00Z"), "verified");
    EXPECT_EQ(store->load(erasure.id).status(), "answered");
    EXPECT_THROW(store->close(erasure, {"", true, "again", ""}, at("2026-11-23T00:00:00Z"), ""), Error);

    auto rectification = open("rectification", "2026-11-20T09:00:00Z");
    EXPECT_THROW(check_runnable(rectification, "export", "urgent"), Error);
    EXPECT_THROW(store->close(rectification, {}, at("2026-11-22T00:00:00Z"), ""), Error) << "no answer said";
    store->close(rectification, {"", false, "display name corrected", ""}, at("2026-11-22T00:00:00Z"), "");

    auto access = open("access", "2026-11-20T09:00:00Z");
    EXPECT_THROW(check_runnable(access, "export", ""), Error) << "ran unverified";
    EXPECT_NO_THROW(check_runnable(access, "export", "the person is at the desk"));
    EXPECT_THROW(check_runnable(access, "erase", "x"), Error) << "an access request erased";
    store->close(access, {"", true, "manifestly unfounded (Art. 12(5))", ""}, at("2027-01-01T00:00:00Z"), "");
    EXPECT_EQ(store->load(access.id).status(), "refused");
}

TEST_F(RequestStoreTest, StatisticsGiveTheMedianAndWorstTimeToAnswerAndCountTheOverdue) {
    auto fast = open("access", "2026-11-01T00:00:00Z");
    auto slow = open("portability", "2026-11-01T00:00:00Z");
    auto missing = open("access", "2026-10-01T00:00:00Z");
    for (auto* r : {&fast, &slow}) store->record_action(*r, {"2026-11-02T00:00:00Z", "export", "a.zip", {}, ""}, {});
    store->close(fast, {}, at("2026-11-03T00:00:00Z"), "");
    store->close(slow, {}, at("2026-11-11T00:00:00Z"), "");
    auto figures = statistics(store->all(), at("2026-11-23T00:00:00Z"));
    EXPECT_EQ(figures["received"], 3);
    EXPECT_EQ(figures["answered"], 2);
    EXPECT_EQ(figures["open"], 1);
    EXPECT_EQ(figures["overdue"], 1) << missing.id << " was due " << iso(missing.due());
    EXPECT_DOUBLE_EQ(figures["median_days"].get<double>(), 6.0);
    EXPECT_DOUBLE_EQ(figures["worst_days"].get<double>(), 10.0);
}

TEST(Recipients, Article19NamesTheRegistersRecipientsOfTheErasedCategoriesButNotInternalTeams) {
    ropa::Register reg;
    ropa::Activity cdn;
    cdn.categories = {"usage-data"};
    cdn.recipients = {{"EdgeCDN SE", "sub-processor", "DE"}, {"Support team", "internal", "DE"}};
    ropa::Activity mail;
    mail.categories = {"webinar-participants"};
    mail.recipients = {{"MailRelay GmbH", "sub-processor", "DE"}, {"EdgeCDN SE", "sub-processor", "DE"}};
    reg.activities = {cdn, mail};
    EXPECT_EQ(recipients_of(reg, {"usage-data"}), (std::vector<std::string>{"EdgeCDN SE"}));
    EXPECT_EQ(recipients_of(reg, {"usage-data", "webinar-participants"}),
              (std::vector<std::string>{"EdgeCDN SE", "MailRelay GmbH"}));
    EXPECT_TRUE(recipients_of(reg, {"recordings"}).empty());
}

}  // namespace
}  // namespace gdprctl::requests
