#pragma once
// Includes <qcustomplot.h> in targets built with QT_NO_KEYWORDS (all of ours,
// so that Qt's `signals`/`slots` macros never meet torch headers). QCustomPlot
// 2.1's header still spells `signals:` and `foreach`; map them to the Q_
// forms for this one include only. Always include QCustomPlot through here.
#ifdef QT_NO_KEYWORDS
#define signals Q_SIGNALS
#define slots Q_SLOTS
#define emit Q_EMIT
#define foreach Q_FOREACH
#include <qcustomplot.h>
#undef signals
#undef slots
#undef emit
#undef foreach
#else
#include <qcustomplot.h>
#endif
