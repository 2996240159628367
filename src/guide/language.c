/*
 * language.c - which language a report is written in: the language of
 * kb/lang/CODE.kb whose function words ("the", "de", "nan", "sa") occur most
 * often among the report's words, counting each distinct word once.
 * English is the answer when no language has at least two such words or
 * two languages tie. Short, hurried reports carry few function words, so
 * a hazard cue alone never decides.
 */
#include "guide_int.h"

#include <stdlib.h>
#include <string.h>

int guide_language(const relief_kb *kb, const token_list *t, const char **code, int *hits)
{
    *code = "en";
    *hits = 0;
    lex_match_vec mv = {0};
    if (lexicon_find(&kb->langwords, t, &mv) < 0) {
        free(mv.m);
        return -1;
    }
    /* Distinct words per language: a report repeating "de" ten times is not
     * ten times as Spanish. */
    int count[KB_MAX_LANGS] = {0};
    for (size_t i = 0; i < mv.n; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = mv.m[j].phrase == mv.m[i].phrase;
        if (!seen)
            count[kb->langwords.phrases[mv.m[i].phrase].hazard]++;
    }
    free(mv.m);
    int best = -1, best_n = 0, second_n = 0;
    for (size_t l = 0; l < kb->n_langs; l++) {
        if (count[l] > best_n) {
            second_n = best_n;
            best_n = count[l];
            best = (int)l;
        } else if (count[l] > second_n) {
            second_n = count[l];
        }
    }
    if (best >= 0 && best_n >= 2 && best_n > second_n) {
        *code = kb->langs[best].code;
        *hits = best_n;
    }
    return 0;
}
