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
    int best = -1, best_n = 0, second_n = 0;
    for (size_t l = 0; l < kb->n_langs; l++) {
        lex_match_vec mv = {0};
        if (lexicon_find(&kb->langs[l].words, t, &mv) < 0) {
            free(mv.m);
            return -1;
        }
        /* Distinct words: a report repeating "de" ten times is not ten times as Spanish. */
        int n = 0;
        for (size_t i = 0; i < mv.n; i++) {
            bool seen = false;
            for (size_t j = 0; j < i && !seen; j++)
                seen = mv.m[j].phrase == mv.m[i].phrase;
            n += !seen;
        }
        free(mv.m);
        if (n > best_n) {
            second_n = best_n;
            best_n = n;
            best = (int)l;
        } else if (n > second_n) {
            second_n = n;
        }
    }
    if (best >= 0 && best_n >= 2 && best_n > second_n) {
        *code = kb->langs[best].code;
        *hits = best_n;
    }
    return 0;
}
