#include "core/crypto/workers.hpp"

#include <algorithm>

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

BackgroundSink::BackgroundSink(Downstream downstream, std::size_t batch_size)
    : m_downstream(std::move(downstream)), m_batch_size(batch_size) {
    m_filling.reserve(m_batch_size);
    m_draining.reserve(m_batch_size);
    m_job = [this](unsigned, unsigned) { m_downstream(m_draining.data(), m_draining.size()); };
}

void BackgroundSink::hand_over() {
    if (m_running) {
        m_running = false;
        m_pool.wait();
    }
    m_filling.swap(m_draining);
    m_filling.clear();
    m_pool.start(m_job);
    m_running = true;
}

void BackgroundSink::write(const unsigned char* data, std::size_t size) {
    while (size > 0) {
        std::size_t take = std::min(size, m_batch_size - m_filling.size());
        m_filling.insert(m_filling.end(), data, data + take);
        data += take;
        size -= take;
        if (m_filling.size() == m_batch_size) hand_over();
    }
}

void BackgroundSink::finish() {
    if (m_running) {
        m_running = false;
        m_pool.wait();
    }
    if (!m_filling.empty()) {
        m_downstream(m_filling.data(), m_filling.size());
        m_filling.clear();
    }
}

}  // namespace gdprctl::crypto
