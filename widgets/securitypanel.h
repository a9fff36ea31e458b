// SPDX-License-Identifier: MIT
#pragma once

#include "modeltypes.h"

#include <QWidget>

class QLabel;
class QSortFilterProxyModel;
class QTableView;

namespace ckpt {

class GlobalsModel;
class MessageBar;

/// Every global the file's pickles reference, classified, with a banner when any of them would
/// run code under torch.load.
class SecurityPanel : public QWidget
{
    Q_OBJECT
public:
    explicit SecurityPanel(QWidget *parent = nullptr);

    void setCheckpoint(CheckpointPtr data);
    MessageBar *banner() const { return m_banner; }
    GlobalsModel *model() const { return m_model; }
    QTableView *view() const { return m_view; }

private:
    MessageBar *m_banner;
    QLabel *m_heading;
    GlobalsModel *m_model;
    QSortFilterProxyModel *m_proxy;
    QTableView *m_view;
};

} // namespace ckpt
