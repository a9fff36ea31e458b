// SPDX-License-Identifier: MIT
#pragma once

#include "modeltypes.h"

#include <QAbstractTableModel>

#include <optional>
#include <vector>

namespace ckpt {

/// Which 2-D slice of an N-D tensor to show: the axes laid out as rows and columns, and an
/// index for every other axis (HDFView style). A 1-D tensor has colAxis == -1; 0-d has both -1.
struct SliceSpec
{
    int rowAxis = -1;
    int colAxis = -1;
    std::vector<std::int64_t> index; ///< one entry per axis; row/column axes are ignored

    /// The default slice of `shape`: the last two axes, every other index 0.
    static SliceSpec defaultFor(const std::vector<std::int64_t> &shape);
    /// Fixes invalid axes/indices so that the spec fits `shape`.
    void normalize(const std::vector<std::int64_t> &shape);
    friend bool operator==(const SliceSpec &, const SliceSpec &) = default;
};

/// A 2-D slice of a tensor as a table. Reads only the cells a view asks for (elementAt through
/// the memory map), so any tensor size opens instantly. Thread affinity: the GUI thread.
class TensorSliceModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    /// Rows/columns beyond this are not shown (a view's pixel extent would overflow).
    static constexpr std::int64_t kMaxExtent = 20'000'000;

    explicit TensorSliceModel(QObject *parent = nullptr);

    /// Shows tensor `tensor` of `data` with its default slice; error() says why when there is
    /// nothing to show (no data, not decodable).
    void setTensor(CheckpointPtr data, int tensor);
    void clear();
    void setSlice(const SliceSpec &spec);
    const SliceSpec &slice() const { return m_spec; }
    const std::vector<std::int64_t> &shape() const { return m_shape; }
    QString error() const { return m_error; }
    int tensor() const { return m_tensor; }
    bool truncated() const;

    /// The full index of cell (row, column).
    std::vector<std::int64_t> indexOf(int row, int column) const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation,
                        int role = Qt::DisplayRole) const override;

private:
    CheckpointPtr m_data;
    int m_tensor = -1;
    std::optional<format::StridedView> m_view;
    std::vector<std::int64_t> m_shape;
    SliceSpec m_spec;
    QString m_error;
};

} // namespace ckpt
