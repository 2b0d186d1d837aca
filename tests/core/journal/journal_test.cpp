#include "core/journal/journal.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/support/temp_dir.hpp"

namespace gdprctl::journal {
namespace {

class JournalTest : public ::testing::Test {
protected:
    void SetUp() override {
        m_state = std::make_unique<state::StateDb>(m_dir / "state");
        m_journal = std::make_unique<Journal>(*m_state);
        for (int i = 0; i < 4; ++i)
            m_journal->append("scan", {{"tenant", "t" + std::to_string(i)}}, {"db"}, {{"db", {{"records", i}}}}, "ok");
    }
    void exec(const std::string& sql) { m_state->db().exec(sql); }

    gdprctl::testing::TempDir m_dir;
    std::unique_ptr<state::StateDb> m_state;
    std::unique_ptr<Journal> m_journal;
};

TEST_F(JournalTest, AppendedEntriesChainAndVerify) {
    auto entries = m_journal->entries();
    ASSERT_EQ(entries.size(), 4u);
    EXPECT_EQ(entries[1].prev_hash, entries[0].hash);
    auto result = m_journal->verify();
    EXPECT_TRUE(result.intact);
    EXPECT_EQ(result.entries, 4u);
}

TEST_F(JournalTest, StateDirectoryAndDatabaseArePrivate) {
    struct stat info {};
    ASSERT_EQ(::stat((m_dir / "state").c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0700u);
    ASSERT_EQ(::stat((m_dir / "state" / "state.db").c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST_F(JournalTest, AnEditedEntryIsFound) {
    exec("UPDATE journal SET counts = '{\"db\":{\"records\":99}}' WHERE seq = 2");
    auto result = m_journal->verify();
    EXPECT_FALSE(result.intact);
    EXPECT_EQ(result.first_broken, 2);
}

TEST_F(JournalTest, ADeletedEntryIsFound) {
    exec("DELETE FROM journal WHERE seq = 3");
    auto result = m_journal->verify();
    EXPECT_FALSE(result.intact);
    EXPECT_EQ(result.first_broken, 4);
}

TEST_F(JournalTest, ReorderedEntriesAreFound) {
    exec(
        "UPDATE journal SET seq = 100 WHERE seq = 2; UPDATE journal SET seq = 2 WHERE seq = 3;"
        "UPDATE journal SET seq = 3 WHERE seq = 100;");
    auto result = m_journal->verify();
    EXPECT_FALSE(result.intact);
    EXPECT_EQ(result.first_broken, 2);
}

TEST_F(JournalTest, ARemovedTailIsFound) {
    exec("DELETE FROM journal WHERE seq = 4");
    auto result = m_journal->verify();
    EXPECT_FALSE(result.intact);
    EXPECT_NE(result.problem.find("removed"), std::string::npos) << result.problem;
}

TEST_F(JournalTest, ShowLastNGivesTheNewestInOrder) {
    auto last = m_journal->entries(2);
    ASSERT_EQ(last.size(), 2u);
    EXPECT_EQ(last[0].seq, 3);
    EXPECT_EQ(last[1].seq, 4);
}

TEST_F(JournalTest, SchemaIsAtTheCurrentVersionAndReopeningKeepsEntries) {
    EXPECT_EQ(m_state->schema_version(), state::StateDb::current_schema_version());
    state::StateDb again(m_dir / "state");
    Journal reopened(again);
    EXPECT_EQ(reopened.entries().size(), 4u);
}

}  // namespace
}  // namespace gdprctl::journal
