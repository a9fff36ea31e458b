// SPDX-License-Identifier: MIT
#pragma once

#include "checkpointtree.h"

#include <QWidget>

class QLabel;
class QPlainTextEdit;
class QSplitter;

namespace ckpt {

class MessageBar;
class SecurityPanel;

/// The file's root: format, counts, bytes, load time, warnings, metadata and the error if
/// reading stopped early; the security panel below.
class SummaryPanel : public QWidget
{
    Q_OBJECT
public:
    explicit SummaryPanel(QWidget *parent = nullptr);

    void setTree(std::shared_ptr<const CheckpointTree> tree, qint64 loadMs);
    SecurityPanel *security() const { return m_security; }
    QLabel *facts() const { return m_facts; }
    QPlainTextEdit *warnings() const { return m_warnings; }
    MessageBar *errorBar() const { return m_error; }
    QSplitter *splitter() const { return m_splitter; }

private:
    QLabel *m_title;
    QLabel *m_path;
    MessageBar *m_error;
    QLabel *m_facts;
    QLabel *m_warningsLabel;
    QPlainTextEdit *m_warnings;
    QSplitter *m_splitter;
    SecurityPanel *m_security;
};

} // namespace ckpt
