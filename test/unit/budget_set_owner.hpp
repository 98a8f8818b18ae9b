// A BudgetSet over heap storage, for tests.
#pragma once

#include "poolgov/budgets.hpp"

#include <cstdint>
#include <vector>

namespace poolgov::test {

struct OwnedBudgetSet {
    std::vector<uint64_t> block;
    BudgetSet set{};

    explicit OwnedBudgetSet(uint32_t capacity = 256, uint32_t pair_slots = 0)
        : block(budget_set_bytes(capacity, pair_slots) / sizeof(uint64_t) + 1)
    {
        budget_set_attach(set, block.data(), capacity, pair_slots);
    }
    OwnedBudgetSet(const OwnedBudgetSet &) = delete;
    OwnedBudgetSet &operator=(const OwnedBudgetSet &) = delete;
};

}  // namespace poolgov::test
