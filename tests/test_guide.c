/*
 * test_guide.c - behaviour tests of the guidance engine through its public
 * API with the embedded knowledge base: detection traps, fact extraction,
 * plan construction, needs arithmetic and rendering.
 */
#include "check.h"
#include "relief/guide.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static relief_kb *kb;

static relief_plan *plan_for(const char *text)
{
    relief_options o = {.days = 3, .now = 0};
    relief_plan *p = relief_plan_build(kb, text, strlen(text), &o);
    if (!p) {
        fprintf(stderr, "plan failed for: %s\n", text);
        exit(2);
    }
    return p;
}

/* Returns the detection of hazard h (primary only), or NULL. */
static const relief_detection *detected(const relief_plan *p, const char *h)
{
    for (size_t i = 0; i < p->n_detections; i++)
        if (!p->detections[i].secondary && !strcmp(relief_hazard_name(p->detections[i].hazard), h))
            return &p->detections[i];
    return NULL;
}

static bool has_hazard(const char *text, const char *h)
{
    relief_plan *p = plan_for(text);
    bool r = detected(p, h) != NULL;
    relief_plan_free(p);
    return r;
}

static size_t n_primary(const char *text)
{
    relief_plan *p = plan_for(text);
    size_t n = 0;
    for (size_t i = 0; i < p->n_detections; i++)
        n += !p->detections[i].secondary;
    relief_plan_free(p);
    return n;
}

#define EXPECT_HAZARD(text, h) CHECK_MSG(has_hazard(text, h), "expected %s in: %s", h, text)
#define EXPECT_NOT_HAZARD(text, h) CHECK_MSG(!has_hazard(text, h), "did not expect %s in: %s", h, text)

static void test_detection_basics(void)
{
    EXPECT_HAZARD("River rising in Riverside, levee may fail", "flood");
    EXPECT_HAZARD("Streets flooded after the storm", "flood");
    EXPECT_HAZARD("Flooding in the lower town", "flood");
    EXPECT_HAZARD("Strong earthquake shook the city", "earthquake");
    EXPECT_HAZARD("Quake hits the capital, buildings damaged", "earthquake");
    EXPECT_HAZARD("Wildfire approaching the village, smoke everywhere", "wildfire");
    EXPECT_HAZARD("Apartment building on fire, people on the balconies", "structure_fire");
    EXPECT_HAZARD("Tornado touched down near the school", "tornado");
    EXPECT_HAZARD("Hurricane making landfall tonight", "tropical_cyclone");
    EXPECT_HAZARD("Tsunami warning: waves expected on the coast", "tsunami");
    EXPECT_HAZARD("Chlorine gas leak at the water treatment plant", "hazmat");
    EXPECT_HAZARD("Gunman opened fire at the mall", "violence");
    EXPECT_HAZARD("Train derailed outside the station, many injured", "transport_accident");
    EXPECT_HAZARD("Explosion at the fertilizer plant", "explosion");
    EXPECT_HAZARD("Factory building collapsed, workers under the rubble", "building_collapse");
    EXPECT_HAZARD("Cholera outbreak in the camp", "epidemic");
    EXPECT_HAZARD("Dam failure imminent upstream of the town", "dam_failure");
    EXPECT_HAZARD("Landslide buried several houses", "landslide");
    EXPECT_HAZARD("Volcano erupting, ash falling on the town", "volcano");
    EXPECT_HAZARD("Heat wave: temperatures above 45 C for a week", "extreme_heat");
    EXPECT_HAZARD("Blizzard with heavy snow, roads closed", "winter_storm");
    EXPECT_HAZARD("Severe thunderstorm with large hail and damaging winds", "severe_storm");
    EXPECT_HAZARD("Power outage across the whole city since this morning", "power_outage");
    EXPECT_HAZARD("Radiation leak at the nuclear plant", "radiological");
    EXPECT_HAZARD("Crops failing, the third year of drought", "drought");
    /* Spanish and French. */
    EXPECT_HAZARD("Inundaciones en el barrio, el agua sigue subiendo", "flood");
    EXPECT_HAZARD("Fuerte terremoto en la costa", "earthquake");
    EXPECT_HAZARD("Incendio forestal cerca del pueblo", "wildfire");
    EXPECT_HAZARD("Inondation dans le quartier, l'eau monte", "flood");
    EXPECT_HAZARD("Un séisme a frappé la ville", "earthquake");
    EXPECT_HAZARD("Explosion dans une usine chimique", "explosion");
    /* Hashtags: a cue at either end, and a head before a two-letter place code. */
    EXPECT_HAZARD("#yycflood roads closed downtown", "flood");
    EXPECT_HAZARD("Fuerte sacudida #TerremotoCR", "earthquake");
    EXPECT_HAZARD("#EarthquakePH felt in the capital", "earthquake");
    /* Multi-label. */
    relief_plan *p = plan_for("Earthquake destroyed the old market and a fire broke out in the ruins; "
                              "the building collapsed on shoppers");
    CHECK(detected(p, "earthquake"));
    CHECK(detected(p, "building_collapse"));
    const relief_detection *d = detected(p, "earthquake");
    CHECK(d && d->confidence > 0 && d->confidence <= 1 && d->n_cues > 0);
    relief_plan_free(p);
}

static void test_detection_traps(void)
{
    /* Word forms. */
    CHECK(n_primary("The manager fired three employees yesterday") == 0);
    CHECK(n_primary("A ceasefire was agreed this morning") == 0);
    CHECK(n_primary("Fireworks display at the harbour tonight") == 0);
    /* Negation and non-events. */
    EXPECT_NOT_HAZARD("There is no fire in the building, just a smell", "structure_fire");
    EXPECT_NOT_HAZARD("Fire drill at the school at 10am", "structure_fire");
    EXPECT_NOT_HAZARD("The flood warning has been lifted for the county", "flood");
    EXPECT_NOT_HAZARD("Photos from last year's flood", "flood");
    /* Figurative use. */
    CHECK(n_primary("We got a flood of calls about the new product") == 0);
    CHECK(n_primary("The team is on fire this season") == 0);
    /* "quake" alone still means earthquake; "earthquake" too. */
    EXPECT_HAZARD("Big quake just now!", "earthquake");
    EXPECT_HAZARD("earthquake!!", "earthquake");
    /* Nothing at all. */
    CHECK(n_primary("How much money for a passport now") == 0);
    CHECK(n_primary("") == 0);
}

static void test_cues_explained(void)
{
    const char *text = "Levee breach, the river is flooding the town";
    relief_plan *p = plan_for(text);
    const relief_detection *d = detected(p, "flood");
    CHECK(d != NULL);
    if (d) {
        bool found = false;
        for (size_t i = 0; i < d->n_cues; i++) {
            relief_span s = d->cues[i].span;
            CHECK(s.start < s.end && s.end <= strlen(text));
            if (!strncmp(text + s.start, "flooding", s.end - s.start))
                found = true;
        }
        CHECK(found);
    }
    relief_plan_free(p);
}

static bool span_is(const relief_plan *p, relief_span s, const char *want)
{
    return s.end <= p->report_len && s.end - s.start == strlen(want) && !memcmp(p->report + s.start, want, strlen(want));
}

static void test_extract_time(void)
{
    struct { const char *text; double seconds; } cases[] = {
        {"Levee may fail within 2 hours", 7200},
        {"water will reach the school in 45 min", 2700},
        {"expected in 2 days", 172800},
        {"evacuate within 20 minutes", 1200},
        {"landfall in the next 3 hours", 10800},
        {"la presa puede romper en 2 horas", 7200},
        {"la digue peut céder dans 30 minutes", 1800},
        {"we have half an hour", 1800},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        relief_plan *p = plan_for(cases[i].text);
        CHECK_MSG(p->facts.time_s.known && fabs(p->facts.time_s.value - cases[i].seconds) < 1,
                  "%s -> %g", cases[i].text, p->facts.time_s.known ? p->facts.time_s.value : -1);
        relief_plan_free(p);
    }
    /* "2 hours ago" is the past, not time available. */
    relief_plan *p = plan_for("The dam broke 2 hours ago");
    CHECK(!p->facts.time_s.known);
    relief_plan_free(p);
    /* Clock times are relative to 'now': 13:00 local -> "by 3pm" = 2 h. */
    struct tm tm = {.tm_year = 126, .tm_mon = 10, .tm_mday = 26, .tm_hour = 13, .tm_min = 0, .tm_isdst = -1};
    relief_options o = {.days = 3, .now = (long long)mktime(&tm)};
    const char *t = "Evacuate the valley by 3pm";
    p = relief_plan_build(kb, t, strlen(t), &o);
    CHECK(p && p->facts.time_s.known && fabs(p->facts.time_s.value - 7200) < 1);
    if (p)
        CHECK(span_is(p, p->facts.time_s.span, "by 3pm"));
    relief_plan_free(p);
    t = "Storm surge expected tonight";
    p = relief_plan_build(kb, t, strlen(t), &o); /* 13:00 -> 21:00 */
    CHECK(p && p->facts.time_s.known && fabs(p->facts.time_s.value - 8 * 3600) < 1);
    relief_plan_free(p);
}

static void test_extract_people(void)
{
    struct { const char *text; double people; bool households; } cases[] = {
        {"3,000 residents in the flood zone", 3000, false},
        {"about 3k people without shelter", 3000, false},
        {"two hundred people in the school gym", 200, false},
        {"about 200 families need shelter", 1000, true},
        {"1,250 evacuees at the stadium", 1250, false},
        {"2.5 million people affected", 2500000, false},
        {"unas 500 personas evacuadas", 500, false},
        {"300 familles sans abri", 1500, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        relief_plan *p = plan_for(cases[i].text);
        CHECK_MSG(p->facts.people.known && fabs(p->facts.people.value - cases[i].people) < 0.5,
                  "%s -> %g", cases[i].text, p->facts.people.known ? p->facts.people.value : -1);
        CHECK(p->facts.people_from_households == cases[i].households);
        relief_plan_free(p);
    }
    relief_plan *p = plan_for("Flood in Riverside, 3,000 residents");
    CHECK(span_is(p, p->facts.people.span, "3,000 residents"));
    relief_plan_free(p);
    /* The largest count wins and keeps its provenance. */
    p = plan_for("Flash flood, 200 families displaced. Nursing home with 40 elderly residents.");
    CHECK(p->facts.people.known && p->facts.people.value == 1000 && p->facts.people_from_households);
    relief_plan_free(p);
}

static void test_extract_casualties(void)
{
    relief_plan *p = plan_for("Bus crash on the highway: 12 injured, 3 dead, 2 people trapped and 4 missing");
    CHECK(p->facts.injured.known && p->facts.injured.value == 12);
    CHECK(p->facts.dead.known && p->facts.dead.value == 3);
    CHECK(p->facts.trapped.known && p->facts.trapped.value == 2);
    CHECK(p->facts.missing.known && p->facts.missing.value == 4);
    CHECK(span_is(p, p->facts.injured.span, "12 injured"));
    relief_plan_free(p);
    p = plan_for("Explosion killing 7 and injuring 40 at the market");
    CHECK(p->facts.dead.known && p->facts.dead.value == 7);
    CHECK(p->facts.injured.known && p->facts.injured.value == 40);
    relief_plan_free(p);
    p = plan_for("People trapped under the rubble, we hear voices");
    CHECK(p->facts.trapped.mentioned && !p->facts.trapped.known);
    relief_plan_free(p);
    p = plan_for("Nobody injured in the small fire");
    CHECK(!p->facts.injured.mentioned && !p->facts.injured.known);
    relief_plan_free(p);
}

static bool has_location(const relief_plan *p, relief_loc_kind kind, const char *text)
{
    for (size_t i = 0; i < p->facts.n_locations; i++)
        if (p->facts.locations[i].kind == kind && strstr(p->facts.locations[i].text, text))
            return true;
    return false;
}

static void test_extract_places(void)
{
    relief_plan *p = plan_for("River rising in Riverside, nursing home on Elm St, shelter at 12 Oak Avenue");
    CHECK(has_location(p, RELIEF_LOC_PLACE, "Riverside"));
    CHECK(has_location(p, RELIEF_LOC_ADDRESS, "Elm St"));
    CHECK(has_location(p, RELIEF_LOC_ADDRESS, "12 Oak Avenue"));
    relief_plan_free(p);
    p = plan_for("Boat capsized at 14.5995, -120.9842 near Manila Bay");
    bool coords = false;
    for (size_t i = 0; i < p->facts.n_locations; i++)
        if (p->facts.locations[i].kind == RELIEF_LOC_COORDS) {
            CHECK_NEAR(p->facts.locations[i].lat, 14.5995, 1e-6);
            CHECK_NEAR(p->facts.locations[i].lon, -120.9842, 1e-6);
            coords = true;
        }
    CHECK(coords);
    CHECK(has_location(p, RELIEF_LOC_PLACE, "Manila Bay"));
    relief_plan_free(p);
    p = plan_for("Earthquake near the coast of Valparaiso, buildings down on Calle Prat and Rue de la Paix");
    CHECK(has_location(p, RELIEF_LOC_PLACE, "Valparaiso"));
    CHECK(has_location(p, RELIEF_LOC_ADDRESS, "Calle Prat"));
    CHECK(has_location(p, RELIEF_LOC_ADDRESS, "Rue de la Paix"));
    CHECK(p->facts.coastal.present);
    relief_plan_free(p);
}

static void test_extract_groups_infra(void)
{
    relief_plan *p = plan_for("Nursing home and a primary school in the flood zone; a pregnant woman and "
                              "wheelchair users need help; homeless camp under the bridge; prison downstream; "
                              "hospital patients on ventilators");
    for (int g = 0; g < RELIEF_VG_COUNT; g++)
        CHECK_MSG(p->facts.vulnerable[g].present, "group %s", relief_vulnerable_name(g));
    relief_plan_free(p);
    p = plan_for("Power is out, the water supply is contaminated, main road blocked, the bridge collapsed, "
                 "phone lines down and the hospital is flooded");
    for (int s = 0; s < RELIEF_INFRA_COUNT; s++)
        CHECK_MSG(p->facts.infra[s].present, "system %s", relief_infra_name(s));
    relief_plan_free(p);
    p = plan_for("Quiet day, the bridge is open and the hospital is normal");
    CHECK(!p->facts.infra[RELIEF_INFRA_BRIDGES].present);
    relief_plan_free(p);
    p = plan_for("We have 3 boats and 2 ambulances on site");
    CHECK(p->facts.n_resources == 2);
    relief_plan_free(p);
}

static const relief_step *find_step(const relief_plan *p, const char *origin, int phase)
{
    for (size_t i = 0; i < p->n_steps; i++)
        if (!strcmp(p->steps[i].origin, origin) && (phase < 0 || p->steps[i].phase == phase))
            return &p->steps[i];
    return NULL;
}

static void test_plan(void)
{
    relief_plan *p = plan_for("River rising in Riverside, 3,000 residents, levee may fail within 2 hours, "
                              "nursing home on Elm St");
    CHECK(p->n_steps > 10);
    int last_phase = 0;
    for (size_t i = 0; i < p->n_steps; i++) {
        const relief_step *s = &p->steps[i];
        CHECK(s->number == (int)i + 1);
        CHECK(s->source && *s->source);
        CHECK(s->text && *s->text);
        CHECK(s->phase >= last_phase); /* ordered by phase */
        last_phase = s->phase;
        for (size_t j = 0; j < i; j++) /* de-duplicated */
            CHECK(strcmp(p->steps[j].text, s->text) != 0 && (!s->id || !p->steps[j].id || strcmp(s->id, p->steps[j].id)));
    }
    /* Cross-cutting protocols are merged in. */
    CHECK(find_step(p, "protocol:ics", -1) != NULL);
    CHECK(find_step(p, "protocol:risk_comm", -1) != NULL);
    /* Elderly present: the vulnerable-groups protocol contributes. */
    CHECK(find_step(p, "protocol:vulnerable", -1) != NULL);
    relief_plan_free(p);

    /* Short timeline: the first step is the hazard's own life-safety step. */
    p = plan_for("Levee may fail within 20 minutes, flooding the lower town");
    CHECK(p->n_steps > 0 && p->steps[0].phase == RELIEF_PHASE_IMMEDIATE && !strcmp(p->steps[0].origin, "flood"));
    CHECK(p->n_notes > 0);
    bool moved = false;
    for (size_t i = 0; i < p->n_steps; i++)
        moved |= p->steps[i].note && strstr(p->steps[i].note, "Moved forward") != NULL;
    CHECK(moved);
    relief_plan_free(p);

    /* Secondary hazards: coastal earthquake adds tsunami steps with a note. */
    p = plan_for("Strong earthquake felt along the coast, buildings damaged near the harbour");
    bool tsunami = false;
    for (size_t i = 0; i < p->n_detections; i++)
        tsunami |= p->detections[i].hazard == RELIEF_HZ_TSUNAMI;
    CHECK(tsunami);
    const relief_step *s = find_step(p, "tsunami", -1);
    CHECK(s && s->note && strstr(s->note, "earthquake"));
    relief_plan_free(p);

    /* Conditions: trapped people bring triage; none stated, no triage. */
    p = plan_for("Building collapsed, 5 people trapped");
    CHECK(find_step(p, "protocol:triage", -1) != NULL);
    relief_plan_free(p);
    p = plan_for("Small wildfire on the ridge, no one hurt");
    CHECK(find_step(p, "protocol:triage", -1) == NULL);
    relief_plan_free(p);

    /* No hazard: no plan, no needs, no brief; notes say what to report. */
    const char *nonevents[] = {"something is happening, send help", "I got fired from my job today",
                               "The fire drill at the school is at 10:00", "Flood warning lifted for Riverside",
                               "Watching the tornado movie tonight with 300 fans"};
    for (size_t i = 0; i < sizeof nonevents / sizeof *nonevents; i++) {
        p = plan_for(nonevents[i]);
        CHECK_MSG(p->n_detections == 0 && p->n_steps == 0 && p->n_brief == 0 && p->n_needs == 0 && p->n_notes > 0,
                  "non-event planned: %s", nonevents[i]);
        relief_plan_free(p);
    }
    /* A non-event word modifies the hazard word beside it, not the report. */
    p = plan_for("Flash flood, 300 people in the trailer park");
    CHECK(detected(p, "flood") != NULL && p->n_brief > 0);
    relief_plan_free(p);
}

/* Reports as people write them (issue: misspellings, numbers, casualty
 * grammar, idioms, lead times, places). */
static void test_as_written(void)
{
    /* One edit for 5+ letters, two for 9+; never a real word. */
    EXPECT_HAZARD("flod in the lower town, water everywhere", "flood");
    EXPECT_HAZARD("big earthqauke just now, walls cracked", "earthquake");
    EXPECT_HAZARD("wildfir coming down the hill", "wildfire");
    EXPECT_NOT_HAZARD("water on the floor of the kitchen after the party", "flood");
    EXPECT_NOT_HAZARD("@BlizzardCS crashed them right after the stream lol", "winter_storm");
    relief_plan *p = plan_for("flod in the lower town");
    const relief_detection *d = detected(p, "flood");
    CHECK(d && d->n_cues > 0 && d->cues[0].modifier && strstr(d->cues[0].modifier, "spelling"));
    relief_plan_free(p);

    struct { const char *text; double people, injured, dead, missing, time_s; } cases[] = {
        {"3 dead 12 hurt after the blast at the market", -1, 12, 3, -1, -1},
        {"Fire at the mall: 3 dead, 12 injured, 4 missing", -1, 12, 3, 4, -1},
        {"my phone died and the flood is rising fast", -1, -1, -1, -1, -1},
        {"flood: 15 000 people affected", 15000, -1, -1, -1, -1},
        {"flood: 40.000 people affected", 40000, -1, -1, -1, -1},
        {"flood, 25k people displaced", 25000, -1, -1, -1, -1},
        {"storm surge 1 hr away from the bay", -1, -1, -1, -1, 3600},
        {"levee failure imminent, about 45 min left", -1, -1, -1, -1, 2700},
        {"levee failure imminent", -1, -1, -1, -1, 900},
        {"explosion downtown, 11 injured and one dead", -1, 11, 1, -1, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        p = plan_for(cases[i].text);
        const relief_quantity *q[] = {&p->facts.people, &p->facts.injured, &p->facts.dead, &p->facts.missing,
                                      &p->facts.time_s};
        double want[] = {cases[i].people, cases[i].injured, cases[i].dead, cases[i].missing, cases[i].time_s};
        static const char *const names[] = {"people", "injured", "dead", "missing", "time"};
        for (int k = 0; k < 5; k++) {
            if (want[k] < 0)
                CHECK_MSG(!q[k]->known && (k != 2 || !q[k]->mentioned), "%s: %s should be unset (got %g)",
                          cases[i].text, names[k], q[k]->value);
            else
                CHECK_MSG(q[k]->known && q[k]->value == want[k], "%s: %s = %g, want %g", cases[i].text, names[k],
                          q[k]->known ? q[k]->value : -1, want[k]);
        }
        relief_plan_free(p);
    }
    /* Ranges stay ranges. */
    p = plan_for("flash flood, 200-300 people in the campground");
    CHECK(p->facts.people.known && p->facts.people.value == 200 && p->facts.people.high == 300);
    relief_plan_free(p);
    /* Hyphenated and multi-word places. */
    p = plan_for("Flooding in Port-au-Prince since this morning");
    CHECK(p->facts.n_locations > 0 && !strcmp(p->facts.locations[0].text, "Port-au-Prince"));
    relief_plan_free(p);
    p = plan_for("Landslide in San Juan de Lurigancho, 40 families");
    CHECK(p->facts.n_locations > 0 && !strcmp(p->facts.locations[0].text, "San Juan de Lurigancho"));
    relief_plan_free(p);
    /* The report's language is detected from its function words. */
    p = plan_for("Incendio forestal en los cerros, las casas de la ladera están en peligro");
    CHECK(!strcmp(p->lang, "es") && p->lang_hits >= 2);
    relief_plan_free(p);
    p = plan_for("River rising in the town and the levee is weak");
    CHECK(!strcmp(p->lang, "en"));
    relief_plan_free(p);
}

/* Brief properties that hold for every report: at most 8 first-30-minute
 * actions, each marked with a kind and a one-line form, no repeats, kinds
 * in order, every brief step also in the phased plan. */
static void check_brief_shape(const char *text)
{
    relief_plan *p = plan_for(text);
    CHECK_MSG(p->n_detections == 0 || p->n_brief >= 1, "no brief for: %s", text);
    CHECK_MSG(p->n_brief <= 8, "%zu actions in the brief for: %s", p->n_brief, text);
    for (size_t i = 0; i < p->n_brief; i++) {
        const relief_step *b = p->brief[i];
        CHECK(b >= p->steps && b < p->steps + p->n_steps);
        CHECK(b->phase == RELIEF_PHASE_IMMEDIATE && b->brief_kind >= 0 && b->short_text && strlen(b->short_text) <= 110);
        for (size_t j = 0; j < i; j++)
            CHECK(p->brief[j] != b && strcmp(p->brief[j]->text, b->text));
        if (i)
            CHECK(p->brief[i - 1]->brief_kind <= b->brief_kind); /* rules.kb order: protect first */
    }
    relief_plan_free(p);
}

/* Steps of one hazard (or protocol) in the first 30 minutes of the plan. */
static bool immediate_from(const relief_plan *p, const char *origin)
{
    for (size_t i = 0; i < p->n_steps; i++)
        if (p->steps[i].phase == RELIEF_PHASE_IMMEDIATE && !strcmp(p->steps[i].origin, origin))
            return true;
    return false;
}

static bool brief_has_kind_from(const relief_plan *p, int kind, const char *origin)
{
    for (size_t i = 0; i < p->n_brief; i++)
        if (p->brief[i]->brief_kind == kind && !strcmp(p->brief[i]->origin, origin))
            return true;
    return false;
}

static bool any_step_mentions(const relief_plan *p, const char *needle)
{
    for (size_t i = 0; i < p->n_steps; i++)
        if (strstr(p->steps[i].text, needle))
            return true;
    return false;
}

static void test_brief(void)
{
    const char *reports[] = {
        "River rising in Riverside, 3,000 residents, levee may fail within 2 hours, nursing home on Elm St",
        "M7.8 earthquake offshore, tsunami waves expected in 25 minutes, several buildings collapsed in the port",
        "Gas explosion at the market, 5 dead, 20 injured, people trapped under the roof",
        "Cholera outbreak in the camp, 40 sick, 3 dead",
        "Shooting at the mall, suspect still inside",
        "Wildfire 2 km from town, winds pushing it toward 800 homes",
        "Chemical truck overturned on the highway, unknown liquid leaking, 12 people nearby",
        "Tornado hit Moore, 24 dead, school collapsed, 200 families homeless",
        "Hurricane landfall expected in 6 hours, 40,000 people in the evacuation zone",
        "Heatwave 44C, nursing home without air conditioning, 60 residents",
    };
    for (size_t i = 0; i < sizeof reports / sizeof *reports; i++)
        check_brief_shape(reports[i]);

    /* Precedence: with waves 25 minutes away, the brief opens by moving
     * people out of the zone, and no earthquake or collapse rescue waits in
     * the first 30 minutes (kb/rules.kb leave-before-enter). */
    relief_plan *p = plan_for(reports[1]);
    CHECK(p->n_brief > 0 && p->brief[0]->brief_kind == RELIEF_BRIEF_PROTECT);
    CHECK(!brief_has_kind_from(p, RELIEF_BRIEF_RESCUE, "earthquake") &&
          !brief_has_kind_from(p, RELIEF_BRIEF_RESCUE, "building_collapse"));
    relief_plan_free(p);
    /* Scope: trauma triage for trauma, never for an outbreak. */
    p = plan_for(reports[3]);
    CHECK(!immediate_from(p, "protocol:triage") && find_step(p, "protocol:triage", -1) == NULL);
    relief_plan_free(p);
    p = plan_for(reports[2]);
    CHECK(find_step(p, "protocol:triage", -1) != NULL);
    relief_plan_free(p);
    /* Scope: no Ebola rule in a cholera plan. */
    p = plan_for(reports[3]);
    CHECK(!any_step_mentions(p, "21 days") && !any_step_mentions(p, "21-day") && !any_step_mentions(p, "Ebola"));
    relief_plan_free(p);
    /* A gas explosion is not a bomb threat. */
    p = plan_for(reports[2]);
    for (size_t i = 0; i < p->n_brief; i++)
        CHECK_MSG(!strstr(p->brief[i]->text, "stand-off") && !strstr(p->brief[i]->text, "bomb"),
                  "bomb advice for a gas blast: %s", p->brief[i]->text);
    relief_plan_free(p);
    /* A shooting needs bleeding control whether or not a count was given. */
    p = plan_for(reports[4]);
    bool bleed = false;
    for (size_t i = 0; i < p->n_brief; i++)
        bleed |= strstr(p->brief[i]->text, "bleed") != NULL || strstr(p->brief[i]->text, "tourniquet") != NULL;
    CHECK(bleed);
    relief_plan_free(p);
    /* ERG 2024: an unidentified load is isolated at least 100 m; no 50 m figure in the first 30 minutes. */
    p = plan_for(reports[6]);
    bool hundred = false;
    for (size_t i = 0; i < p->n_steps; i++)
        if (p->steps[i].phase == RELIEF_PHASE_IMMEDIATE) {
            hundred |= strstr(p->steps[i].text, "100 m") != NULL;
            CHECK_MSG(!strstr(p->steps[i].text, " 50 m"), "50 m isolation now: %s", p->steps[i].text);
        }
    CHECK(hundred);
    relief_plan_free(p);
    /* A radioactive source in a truck fire is not a nuclear detonation. */
    p = plan_for("Truck fire on the highway, the cargo is a medical radioactive source");
    CHECK(detected(p, "radiological") != NULL);
    CHECK(!any_step_mentions(p, "detonation") && !any_step_mentions(p, "mushroom"));
    relief_plan_free(p);
    /* Food safety and carbon monoxide are not first-30-minute work for a plain flood. */
    p = plan_for("Flood in the valley, 300 people, water rising");
    CHECK(!immediate_from(p, "protocol:food_safety") && !immediate_from(p, "protocol:carbon_monoxide"));
    relief_plan_free(p);
    /* ...but CO is, where generators and poisoning are reported. */
    p = plan_for("Day after the hurricane: two families hospitalised with carbon monoxide poisoning from generators");
    bool co = false;
    for (size_t i = 0; i < p->n_brief; i++)
        co |= strstr(p->brief[i]->text, "generator") != NULL || strstr(p->brief[i]->text, "carbon monoxide") != NULL;
    CHECK(co);
    relief_plan_free(p);
    /* Secondary hazards never reach the first 30 minutes. */
    p = plan_for(reports[0]);
    for (size_t i = 0; i < p->n_steps; i++)
        if (p->steps[i].phase == RELIEF_PHASE_IMMEDIATE)
            CHECK_MSG(strcmp(p->steps[i].origin, "epidemic"), "secondary epidemic step now: %s", p->steps[i].text);
    relief_plan_free(p);
}

static void test_kb_coverage(void)
{
    /* Every hazard has >= 10 steps and covers every phase (checked through plans with every fact set). */
    for (int h = 0; h < RELIEF_HZ_COUNT; h++) {
        CHECK_MSG(relief_kb_step_count(kb, h) >= 10, "%s has %zu steps", relief_hazard_name(h),
                  relief_kb_step_count(kb, h));
        for (int ph = 0; ph < RELIEF_PHASE_COUNT; ph++)
            CHECK_MSG(relief_kb_phase_step_count(kb, h, ph) > 0, "%s has no %s step", relief_hazard_name(h),
                      relief_phase_name(ph));
    }
    CHECK(relief_kb_protocol_count(kb) >= 5);
}

static const relief_need *need(const relief_plan *p, const char *id)
{
    for (size_t i = 0; i < p->n_needs; i++)
        if (!strcmp(p->needs[i].id, id))
            return &p->needs[i];
    return NULL;
}

static void test_needs(void)
{
    /* Domain facts A1.1 formulas, P = 3000, D = 3, H = 600. */
    relief_plan *p = plan_for("Flood, 3,000 residents displaced");
    const relief_need *n;
    CHECK((n = need(p, "water_total")) && n->amount == 135000);     /* 15 x 3000 x 3 */
    CHECK((n = need(p, "water_drinking")) && n->amount == 27000);   /* 3 x 3000 x 3 */
    CHECK((n = need(p, "water_taps")) && n->amount == 12);          /* ceil(3000/250) */
    CHECK((n = need(p, "latrines")) && n->amount == 60);            /* ceil(3000/50) */
    CHECK((n = need(p, "water_containers")) && n->amount == 1200);  /* 2 x 600 */
    CHECK((n = need(p, "food_energy")) && n->amount == 18900000);   /* 2100 x 3000 x 3 */
    CHECK((n = need(p, "covered_space")) && n->amount == 10500);    /* 3.5 x 3000 */
    CHECK((n = need(p, "health_workers")) && n->amount == 7);       /* ceil(23 x 3000 / 10000) */
    CHECK((n = need(p, "handwashing")) && n->amount == 60);
    for (size_t i = 0; i < p->n_needs; i++)
        CHECK(p->needs[i].standard && *p->needs[i].standard);
    relief_plan_free(p);
    /* Days change totals. */
    relief_options o = {.days = 10};
    const char *t = "flood, 1,000 people";
    p = relief_plan_build(kb, t, strlen(t), &o);
    CHECK((n = need(p, "water_total")) && n->amount == 150000); /* 15 x 1000 x 10 */
    relief_plan_free(p);
    /* No population stated: no needs table, and a note saying what to state. */
    t = "flood in the valley";
    p = relief_plan_build(kb, t, strlen(t), &o);
    CHECK(p->n_needs == 0);
    bool said = false;
    for (size_t i = 0; i < p->n_notes; i++)
        said |= strstr(p->notes[i], "how many people") != NULL;
    CHECK(said);
    relief_plan_free(p);
}

static void test_render(void)
{
    relief_plan *p = plan_for("Earthquake in Lima, 500 people, 3 trapped");
    char *text = relief_plan_render(p, RELIEF_FMT_TEXT, RELIEF_RENDER_FULL);
    CHECK(text && strstr(text, "Source:") && strstr(text, "DO NOW") && !strchr(text, '\033'));
    free(text);
    text = relief_plan_render(p, RELIEF_FMT_TEXT, 0);
    CHECK(text && strstr(text, "DO NOW") && !strstr(text, "Source:") && strstr(text, "relief --full"));
    char *color = relief_plan_render(p, RELIEF_FMT_TEXT, RELIEF_RENDER_COLOR);
    CHECK(color && strchr(color, '\033'));
    char *md = relief_plan_render(p, RELIEF_FMT_MARKDOWN, RELIEF_RENDER_EXPLAIN);
    CHECK(md && strstr(md, "# relief action plan") && strstr(md, "| Item |") && strstr(md, "## Do now"));
    char *js = relief_plan_render(p, RELIEF_FMT_JSON, 0);
    json_error_t err;
    json_t *j = js ? json_loads(js, 0, &err) : NULL;
    CHECK(j != NULL);
    if (j) {
        CHECK(!strcmp(json_string_value(json_object_get(j, "schema")), RELIEF_JSON_SCHEMA_VERSION));
        CHECK(json_array_size(json_object_get(j, "steps")) == p->n_steps);
        CHECK(json_array_size(json_object_get(j, "brief")) == p->n_brief && p->n_brief > 0);
        json_decref(j);
    }
    free(text);
    free(color);
    free(md);
    free(js);
    relief_plan_free(p);
    /* Hostile bytes: invalid UTF-8, NULs and control characters still render. */
    const char bad[] = "fire \xff\xfe\x00 \033[31m flood \xe2\x82";
    relief_options o = {0};
    p = relief_plan_build(kb, bad, sizeof bad - 1, &o);
    CHECK(p != NULL);
    js = p ? relief_plan_render(p, RELIEF_FMT_JSON, 0) : NULL;
    CHECK(js && (j = json_loads(js, JSON_ALLOW_NUL, &err)) != NULL);
    json_decref(j);
    text = p ? relief_plan_render(p, RELIEF_FMT_TEXT, RELIEF_RENDER_EXPLAIN) : NULL;
    CHECK(text && !strstr(text, "\033[31m"));
    free(js);
    free(text);
    relief_plan_free(p);
}

int main(void)
{
    char *err = NULL;
    kb = relief_kb_load_embedded(&err);
    if (!kb) {
        fprintf(stderr, "embedded kb: %s\n", err);
        return 1;
    }
    test_detection_basics();
    test_detection_traps();
    test_cues_explained();
    test_extract_time();
    test_extract_people();
    test_extract_casualties();
    test_extract_places();
    test_extract_groups_infra();
    test_plan();
    test_kb_coverage();
    test_needs();
    test_render();
    test_brief();
    test_as_written();
    relief_kb_free(kb);
    return check_summary("test_guide");
}
