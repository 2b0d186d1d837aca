#pragma once

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gdprctl::crypto {

// A fixed set of threads that run one job at a time, split in parts, one part per thread. The
// caller may start a job and do other work (read the next input) before waiting for it. Kept
// alive across jobs because the container seals a few MiB per job and starting threads each
// time would cost more than the work.
class WorkerPool {
public:
    using Job = std::function<void(unsigned part, unsigned parts)>;

    explicit WorkerPool(unsigned threads);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    unsigned parts() const { return static_cast<unsigned>(m_threads.size()); }
    // Starts job(part, parts()) on every thread; job must stay alive until wait() returns.
    void start(const Job& job);
    // Returns when every part of the started job is done, rethrowing the first exception any
    // part threw. Does nothing when no job was started.
    void wait();
    void run(const Job& job) {
        start(job);
        wait();
    }

private:
    void serve(unsigned part);

    std::vector<std::thread> m_threads;
    std::mutex m_mutex;
    std::condition_variable m_start;
    std::condition_variable m_done;
    const Job* m_job = nullptr;
    unsigned long m_generation = 0;
    unsigned m_pending = 0;
    bool m_stop = false;
    std::exception_ptr m_error;
};

// Passes bytes to downstream on a helper thread, in order, in batches of batch_size: the
// caller fills one batch while the helper consumes the previous one (double buffering), so
// hashing and writing the output overlap with producing it. An exception downstream is
// rethrown by the next write() or by finish().
class BackgroundSink {
public:
    using Downstream = std::function<void(const unsigned char*, std::size_t)>;

    explicit BackgroundSink(Downstream downstream, std::size_t batch_size = std::size_t{1} << 20);
    BackgroundSink(const BackgroundSink&) = delete;
    BackgroundSink& operator=(const BackgroundSink&) = delete;

    void write(const unsigned char* data, std::size_t size);
    // Returns once every byte written so far has reached downstream.
    void finish();

private:
    void hand_over();

    Downstream m_downstream;
    std::size_t m_batch_size;
    std::vector<unsigned char> m_filling;
    std::vector<unsigned char> m_draining;
    WorkerPool::Job m_job;
    bool m_running = false;
    WorkerPool m_pool{1};  // last: destroyed (joined) before the buffers it reads
};

// The number of threads to use when the caller asked for 0 (one per core).
unsigned default_threads();

}  // namespace gdprctl::crypto
