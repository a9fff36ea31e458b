// SPDX-License-Identifier: MIT
#pragma once

#include <QFrame>

class QLabel;
class QHBoxLayout;
class QToolButton;

namespace ckpt {

/// A coloured one-line (or wrapped) message above a view: errors, warnings, notices.
class MessageBar : public QFrame
{
    Q_OBJECT
public:
    enum class Type { Info, Positive, Warning, Error };

    explicit MessageBar(QWidget *parent = nullptr);

    void showMessage(Type type, const QString &text);
    void setClosable(bool closable);
    QString text() const;
    Type type() const { return m_type; }
    /// Adds a button at the right end; returns it.
    QToolButton *addButton(const QString &text);
    void clearButtons();

private:
    Type m_type = Type::Info;
    QLabel *m_icon;
    QLabel *m_label;
    QHBoxLayout *m_buttons;
    QToolButton *m_close;
};

} // namespace ckpt
