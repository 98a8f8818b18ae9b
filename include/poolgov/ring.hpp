// Fixed-capacity ring buffer over caller-provided memory (shared memory in
// the extension, a plain array in tests). Entries have a fixed stride so a
// record can carry trailing text (the slow-query log keeps query text after
// the struct). The newest `capacity` records are kept; older ones are
// overwritten. Callers serialise writers and readers (an LWLock in the
// extension); the ring itself does no locking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace poolgov {

struct RingHeader {
    uint64_t written;   // records pushed since the ring was created or cleared
    uint32_t capacity;  // records kept
    uint32_t stride;    // bytes per record
};
static_assert(std::is_trivially_copyable_v<RingHeader>);  // in shared memory

constexpr size_t ring_bytes(uint32_t capacity, uint32_t stride)
{
    return static_cast<size_t>(capacity) * stride;
}

// A non-owning view; trivially destructible, so it may live in frames that
// PostgreSQL longjmps through.
class RingView {
public:
    RingView(RingHeader *header, char *data) : header_(header), data_(data) {}

    static void init(RingHeader *header, char *data, uint32_t capacity, uint32_t stride)
    {
        header->written = 0;
        header->capacity = capacity;
        header->stride = stride;
        std::memset(data, 0, ring_bytes(capacity, stride));
    }

    uint32_t capacity() const { return header_->capacity; }
    uint32_t stride() const { return header_->stride; }
    uint64_t written() const { return header_->written; }
    uint64_t size() const
    {
        return header_->written < header_->capacity ? header_->written : header_->capacity;
    }
    // Sequence number of the oldest record still held.
    uint64_t oldest() const { return header_->written - size(); }

    // Storage for the next record, zeroed; nullptr when capacity is 0.
    char *push()
    {
        if (header_->capacity == 0)
            return nullptr;
        char *slot = at(header_->written);
        std::memset(slot, 0, header_->stride);
        ++header_->written;
        return slot;
    }

    // Record with sequence number seq (oldest() <= seq < written()).
    char *at(uint64_t seq) const { return data_ + (seq % header_->capacity) * header_->stride; }

    void clear() { header_->written = 0; }

private:
    RingHeader *header_;
    char *data_;
};

}  // namespace poolgov
