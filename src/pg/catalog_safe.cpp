#include "postgres.hpp"

#include "catalog_safe.hpp"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "catalog/pg_database.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/relcache.h"
}

namespace poolgov::pg {

Oid database_oid_safe(const char *name, bool *allows_connections)
{
    ScanKeyData key;
    ScanKeyInit(&key, Anum_pg_database_datname, BTEqualStrategyNumber, F_NAMEEQ,
                CStringGetDatum(name));
    Relation rel = table_open(DatabaseRelationId, AccessShareLock);
    SysScanDesc scan = systable_beginscan(rel, DatabaseNameIndexId, criticalSharedRelcachesBuilt,
                                          nullptr, 1, &key);
    HeapTuple tup = systable_getnext(scan);
    Oid oid = InvalidOid;
    if (HeapTupleIsValid(tup)) {
        auto *db = reinterpret_cast<Form_pg_database>(GETSTRUCT(tup));
        oid = db->oid;
        if (allows_connections != nullptr)
            *allows_connections = db->datallowconn;
    }
    systable_endscan(scan);
    table_close(rel, AccessShareLock);
    return oid;
}

}  // namespace poolgov::pg
