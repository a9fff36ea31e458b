// SPDX-License-Identifier: MIT
#pragma once

#include <Qt>

namespace ckpt {

/// Roles shared by the item models (STYLE.md section 3).
enum Role {
    SortRole = Qt::UserRole + 1, ///< raw value to sort by (numbers as numbers)
    TensorKeyRole,               ///< index into CheckpointData::tensors, or -1
    ShapeRole,                   ///< QList<qint64>
    DTypeRole,                   ///< dtype name ("float32"), empty for non-tensors
    ByteSizeRole,                ///< quint64 bytes (tensors, or the total below a node)
    ElementCountRole,            ///< quint64 elements (tensors, or the total below a node)
    PathRole,                    ///< raw path: the keys joined with '/' (what --select and copy use)
    TreePathRole,                ///< tree path: every tree level joined with '/'
    NodeKindRole,                ///< int(NodeKind)
    FilterRole,                  ///< text the filter matches against
    HealthRole,                  ///< int(TensorHealth flags), 0 while unknown
    RawValueRole,                ///< double value of a cell (slice model)
};

} // namespace ckpt
