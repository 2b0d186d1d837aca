#include "core/crypto/workers.hpp"

namespace gdprctl::crypto {

unsigned default_threads() {
    unsigned cores = std::thread::hardware_concurrency();
    return cores ? cores : 1;
}

WorkerPool::WorkerPool(unsigned threads) {
    for (unsigned part = 0; part < (threads ? threads : 1); ++part)
        m_threads.emplace_back([this, part] { serve(part); });
}

WorkerPool::~WorkerPool() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_start.notify_all();
    for (auto& thread : m_threads) thread.join();
}

void WorkerPool::start(const Job& job) {
    {
        std::lock_guard lock(m_mutex);
        m_job = &job;
        m_pending = static_cast<unsigned>(m_threads.size());
        m_error = nullptr;
        ++m_generation;
    }
    m_start.notify_all();
}

void WorkerPool::wait() {
    std::unique_lock lock(m_mutex);
    m_done.wait(lock, [this] { return m_pending == 0; });
    m_job = nullptr;
    if (m_error) {
        auto error = m_error;
        m_error = nullptr;
        std::rethrow_exception(error);
    }
}

void WorkerPool::serve(unsigned part) {
    unsigned long seen = 0;
    for (;;) {
        const Job* job = nullptr;
        {
            std::unique_lock lock(m_mutex);
            m_start.wait(lock, [&] { return m_stop || m_generation != seen; });
            if (m_stop) return;
            seen = m_generation;
            job = m_job;
        }
        std::exception_ptr error;
        try {
            (*job)(part, parts());
        } catch (...) {
            error = std::current_exception();
        }
        {
            std::lock_guard lock(m_mutex);
            if (error && !m_error) m_error = error;
            --m_pending;
        }
        m_done.notify_one();
    }
}

}  // namespace gdprctl::crypto
