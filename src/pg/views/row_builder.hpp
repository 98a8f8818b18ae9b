// Filling one output row of a materialized set-returning function, column by
// column, with a check that the count matches the declared OUT columns.
#pragma once

#include "postgres.hpp"

extern "C" {
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "datatype/timestamp.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
}

#include "poolgov/stmt_stats.hpp"

namespace poolgov::pg {

class RowBuilder {
public:
    explicit RowBuilder(FunctionCallInfo fcinfo)
    {
        InitMaterializedSRF(fcinfo, 0);
        rsinfo_ = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    }

    RowBuilder &null()
    {
        check();
        nulls_[n_++] = true;
        return *this;
    }
    RowBuilder &datum(Datum d)
    {
        check();
        nulls_[n_] = false;
        values_[n_++] = d;
        return *this;
    }
    RowBuilder &int8(int64 v) { return datum(Int64GetDatum(v)); }
    RowBuilder &int4(int32 v) { return datum(Int32GetDatum(v)); }
    RowBuilder &boolean(bool v) { return datum(BoolGetDatum(v)); }
    // Milliseconds as an interval; 0 or less: NULL (not set).
    RowBuilder &interval_ms(int64 ms)
    {
        if (ms <= 0)
            return null();
        auto *iv = static_cast<Interval *>(palloc0(sizeof(Interval)));
        iv->time = ms * 1000;
        return datum(IntervalPGetDatum(iv));
    }
    RowBuilder &float8(double v) { return datum(Float8GetDatum(v)); }
    // Negative means "no value" for latencies and costs.
    RowBuilder &float8_or_null(double v) { return v < 0 ? null() : float8(v); }
    RowBuilder &text(const char *s)
    {
        return s ? datum(CStringGetTextDatum(valid_text(s))) : null();
    }
    RowBuilder &text_or_null(const char *s) { return s && *s ? text(s) : null(); }
    RowBuilder &name(const char *s)
    {
        if (s == nullptr)
            return null();
        Name n = static_cast<Name>(palloc0(NAMEDATALEN));
        strlcpy(NameStr(*n), valid_text(s), NAMEDATALEN);
        // A cut may split a character: drop the partial one.
        NameStr(*n)[pg_mbcliplen(NameStr(*n), strlen(NameStr(*n)), NAMEDATALEN - 1)] = '\0';
        return datum(NameGetDatum(n));
    }

    // Text valid in the database encoding. Names and details recorded at
    // login time are the client's bytes, before any database (and so any
    // encoding) was chosen, e.g. a user name "\xff\xfe"; each byte that does
    // not start a valid character reads '?'. Returns s itself when valid.
    static const char *valid_text(const char *s) { return valid_text(s, GetDatabaseEncoding()); }
    static const char *valid_text(const char *s, int encoding)
    {
        int len = static_cast<int>(strlen(s));
        if (pg_verify_mbstr(encoding, s, len, true))
            return s;
        char *out = pstrdup(s);
        for (int i = 0; i < len;) {
            int n =
                IS_HIGHBIT_SET(out[i]) ? pg_encoding_verifymbchar(encoding, out + i, len - i) : 1;
            if (n <= 0) {
                out[i] = '?';
                n = 1;
            }
            i += n;
        }
        return out;
    }
    RowBuilder &timestamptz(TimestampTz t) { return t ? datum(TimestampTzGetDatum(t)) : null(); }
    RowBuilder &inet(const char *addr)
    {
        if (addr == nullptr || addr[0] == '\0')
            return null();
        return datum(DirectFunctionCall1(inet_in, CStringGetDatum(addr)));
    }

    // The statement columns shared by poolgov.stats, .roles and .databases:
    // statements, errors, rows, total_ms, mean_ms, p50_ms, p95_ms, p99_ms,
    // max_ms, slow_statements.
    RowBuilder &statement_columns(const poolgov::StmtCounters &c)
    {
        poolgov::StmtSummary s = poolgov::stmt_summarize(c);
        return int8(static_cast<int64>(s.statements))
            .int8(static_cast<int64>(s.errors))
            .int8(static_cast<int64>(s.rows))
            .float8(s.total_ms)
            .float8_or_null(s.mean_ms)
            .float8_or_null(s.p50_ms)
            .float8_or_null(s.p95_ms)
            .float8_or_null(s.p99_ms)
            .float8_or_null(s.max_ms)
            .int8(static_cast<int64>(s.slow));
    }

    // Columns are only ever appended from one extension version to the next,
    // so a function declared by an older install script (the library is
    // updated before ALTER EXTENSION UPDATE runs) gets the leading columns
    // it declares. Fewer columns than declared is a bug.
    void emit()
    {
        if (n_ < rsinfo_->setDesc->natts)
            elog(ERROR, "pg_poolgov: row has %d columns, the function declares %d", n_,
                 rsinfo_->setDesc->natts);
        tuplestore_putvalues(rsinfo_->setResult, rsinfo_->setDesc, values_, nulls_);
        n_ = 0;
    }

private:
    static constexpr int kMaxColumns = 40;
    void check()
    {
        if (n_ >= kMaxColumns)
            elog(ERROR, "pg_poolgov: too many columns");
    }
    ReturnSetInfo *rsinfo_;
    Datum values_[kMaxColumns];
    bool nulls_[kMaxColumns];
    int n_ = 0;
};

}  // namespace poolgov::pg
