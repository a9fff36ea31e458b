// SPDX-License-Identifier: MIT
#include "messagebar.h"
#include "themecolors.h"

#include "kindicons.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QStyle>
#include <QToolButton>

namespace ckpt {

MessageBar::MessageBar(QWidget *parent)
    : QFrame(parent)
    , m_icon(new QLabel(this))
    , m_label(new QLabel(this))
    , m_buttons(new QHBoxLayout)
    , m_close(new QToolButton(this))
{
    setObjectName(QStringLiteral("MessageBar"));
    auto *layout = new QHBoxLayout(this);
    layout->setContentsMargins(8, 5, 6, 5);
    layout->setSpacing(8);
    m_icon->setFixedSize(18, 18);
    m_label->setWordWrap(true);
    m_label->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::LinksAccessibleByMouse);
    m_label->setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
    m_close->setText(QStringLiteral("✕"));
    m_close->setAutoRaise(true);
    m_close->setToolTip(tr("Hide this message"));
    m_close->hide();
    connect(m_close, &QToolButton::clicked, this, &QWidget::hide);
    layout->addWidget(m_icon, 0, Qt::AlignTop);
    layout->addWidget(m_label, 1);
    layout->addLayout(m_buttons);
    layout->addWidget(m_close, 0, Qt::AlignTop);
    hide();
}

void MessageBar::showMessage(Type type, const QString &text)
{
    m_type = type;
    QString bg, border, fg;
    QIcon icon;
    Tone tone = Tone::Value;
    switch (type) {
    case Type::Info:
        bg = QStringLiteral("#e6f0fb"); border = QStringLiteral("#8fb4e3"); fg = QStringLiteral("#17365d");
        icon = style()->standardIcon(QStyle::SP_MessageBoxInformation);
        break;
    case Type::Positive:
        bg = QStringLiteral("#e5f4e8"); border = QStringLiteral("#86c495"); fg = QStringLiteral("#1b4d2a");
        icon = style()->standardIcon(QStyle::SP_DialogApplyButton);
        tone = Tone::Good;
        break;
    case Type::Warning:
        bg = QStringLiteral("#fff4d6"); border = QStringLiteral("#e0b84f"); fg = QStringLiteral("#4d3800");
        icon = warningIcon();
        tone = Tone::Warning;
        break;
    case Type::Error:
        bg = QStringLiteral("#fde2e2"); border = QStringLiteral("#e08a8a"); fg = QStringLiteral("#6e1212");
        icon = dangerIcon();
        tone = Tone::Danger;
        break;
    }
    if (isDarkPalette(palette())) {
        // The same hues, dark: a tinted base, the tone as border, light text.
        const QColor base = palette().color(QPalette::Base);
        bg = mixColors(base, toneColor(tone, palette()), 0.2).name();
        border = toneColor(tone, palette()).name();
        fg = palette().color(QPalette::Text).name();
    }
    setStyleSheet(QStringLiteral("QFrame#MessageBar { background: %1; border: 1px solid %2; border-radius: 4px; }"
                                 " QFrame#MessageBar QLabel { color: %3; background: transparent; }")
                      .arg(bg, border, fg));
    m_icon->setPixmap(icon.pixmap(18, 18));
    m_label->setText(text);
    show();
}

void MessageBar::setClosable(bool closable)
{
    m_close->setVisible(closable);
}

QString MessageBar::text() const
{
    return m_label->text();
}

QToolButton *MessageBar::addButton(const QString &text)
{
    auto *b = new QToolButton(this);
    b->setText(text);
    m_buttons->addWidget(b);
    return b;
}

void MessageBar::clearButtons()
{
    while (QLayoutItem *item = m_buttons->takeAt(0)) {
        delete item->widget();
        delete item;
    }
}

} // namespace ckpt
