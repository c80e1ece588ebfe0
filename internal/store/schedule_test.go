package store

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the tests run where the system has no zoneinfo
)

func mustLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// utc is an instant written in UTC.
func utc(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}

func weekdays(iv ...string) map[string][]string {
	w := map[string][]string{}
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri"} {
		w[d] = iv
	}
	return w
}

// wantOpenAt checks OpenAt at each instant: open, or closed until next
// (zero: never within the search).
type openCase struct {
	at   time.Time
	open bool
	next time.Time
}

func checkOpenAt(t *testing.T, s *Schedule, cases ...openCase) {
	t.Helper()
	for _, c := range cases {
		open, next := s.OpenAt(c.at)
		if open != c.open || !next.Equal(c.next) {
			t.Errorf("OpenAt(%s = %s): (%v, %s), want (%v, %s)", c.at.UTC().Format(time.RFC3339Nano), c.at.In(loc(s)).Format("Mon 15:04:05 MST"),
				open, fmtNext(next), c.open, fmtNext(c.next))
		}
		if !c.open && !next.IsZero() {
			if o, _ := s.OpenAt(next); !o {
				t.Errorf("closed at its own next opening %s", next)
			}
		}
	}
}

func loc(s *Schedule) *time.Location {
	if l, err := time.LoadLocation(s.TimeZone); err == nil {
		return l
	}
	return time.UTC
}

func fmtNext(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339) + " (" + t.Format("Mon 15:04 MST") + ")"
}

func open(at time.Time) openCase              { return openCase{at: at, open: true} }
func closedUntil(at, next time.Time) openCase { return openCase{at: at, next: next} }
func closedForever(at time.Time) openCase     { return openCase{at: at} }
func sched(tz string, w map[string][]string, closed ...string) *Schedule {
	return &Schedule{TimeZone: tz, Weekly: w, ClosedDates: closed}
}

func TestScheduleValidateAccepts(t *testing.T) {
	for _, s := range []*Schedule{
		nil,
		sched("UTC", map[string][]string{"mon": {"09:00-17:00"}}),
		sched("Europe/Bucharest", weekdays("09:00-12:00", "12:00-17:00"), "2026-12-25", "2027-01-01"), // touching
		sched("America/New_York", map[string][]string{"fri": {"22:00-02:00"}, "sat": {"02:00-24:00"}, "sun": {}}),
		sched("UTC", map[string][]string{"sun": {"22:00-00:00"}, "mon": {"00:00-24:00"}}),
		sched("UTC", map[string][]string{"sun": {"23:00-06:00"}, "mon": {"06:00-07:00"}}), // Sunday night into Monday, touching
		sched("Asia/Kolkata", map[string][]string{"wed": {"00:00-00:01", "23:59-24:00"}, "thu": {"10:00-09:00"}}),
		sched("UTC", map[string][]string{"mon": {"01:00-02:00", "03:00-04:00", "05:00-06:00", "07:00-08:00", "09:00-10:00", "11:00-12:00", "13:00-14:00", "15:00-16:00"}}),
	} {
		if ps := s.Validate(); ps != nil {
			t.Errorf("%+v: %q", s, ps)
		}
	}
	many := make([]string, MaxScheduleClosedDates)
	for i := range many {
		many[i] = time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	}
	if ps := sched("UTC", weekdays("09:00-17:00"), many...).Validate(); ps != nil {
		t.Errorf("%d closed dates: %q", len(many), ps)
	}
}

func TestScheduleValidateRefuses(t *testing.T) {
	for _, tt := range []struct {
		name string
		s    *Schedule
		want []string // the problems, in order
	}{
		{"no time zone", sched("", weekdays("09:00-17:00")),
			[]string{`time_zone is required: an IANA time zone such as "Europe/Bucharest", or "UTC"`}},
		{"unknown time zone", sched("Mars/Olympus", weekdays("09:00-17:00")),
			[]string{`time_zone "Mars/Olympus" is not a known IANA time zone: use a name such as "Europe/Bucharest" or "America/New_York", or "UTC"`}},
		{"local time zone", sched("Local", weekdays("09:00-17:00")),
			[]string{`time_zone "Local" is this server's own zone: name an IANA time zone such as "Europe/Bucharest", or "UTC"`}},
		{"a path", sched("../../etc/passwd", weekdays("09:00-17:00")),
			[]string{`time_zone "../../etc/passwd" is not a known IANA time zone: use a name such as "Europe/Bucharest" or "America/New_York", or "UTC"`}},
		{"unknown days", sched("UTC", map[string][]string{"Mon": {"09:00-17:00"}, "someday": {"09:00-17:00"}, "tue": {"09:00-17:00"}}),
			[]string{`weekly has an unknown day "Mon": the days are mon, tue, wed, thu, fri, sat and sun`,
				`weekly has an unknown day "someday": the days are mon, tue, wed, thu, fri, sat and sun`}},
		{"malformed intervals", sched("UTC", map[string][]string{"mon": {"9:00-17:00", "09:00 - 17:00", "09:00", "09:60-10:00", "ab:cd-ef:gh", "09.00-17.00", ""}}),
			[]string{
				`weekly.mon[0] "9:00-17:00" is not an interval "HH:MM-HH:MM" of 24-hour times, such as "09:00-17:00"`,
				`weekly.mon[1] "09:00 - 17:00" is not an interval "HH:MM-HH:MM" of 24-hour times, such as "09:00-17:00"`,
				`weekly.mon[2] "09:00" is not an interval "HH:MM-HH:MM" of 24-hour times, such as "09:00-17:00"`,
				`weekly.mon[3] "09:60-10:00" is not an interval "HH:MM-HH:MM" of 24-hour times, such as "09:00-17:00"`,
				`weekly.mon[4] "ab:cd-ef:gh" is not an interval "HH:MM-HH:MM" of 24-hour times, such as "09:00-17:00"`,
				`weekly.mon[5] "09.00-17.00" is not an interval "HH:MM-HH:MM" of 24-hour times, such as "09:00-17:00"`,
				`weekly.mon[6] "" is not an interval "HH:MM-HH:MM" of 24-hour times, such as "09:00-17:00"`,
			}},
		{"out of range", sched("UTC", map[string][]string{"tue": {"25:00-26:00", "22:00-24:30", "24:00-02:00", "10:00-10:00", "00:00-00:00"}}),
			[]string{
				`weekly.tue[0] "25:00-26:00" has a time past 24:00: times run from 00:00 to 23:59, and 24:00 may end an interval`,
				`weekly.tue[1] "22:00-24:30" has a time past 24:00: times run from 00:00 to 23:59, and 24:00 may end an interval`,
				`weekly.tue[2] "24:00-02:00" starts at 24:00, which may only end an interval: start at 00:00`,
				`weekly.tue[3] "10:00-10:00" is empty: its start and end are the same (the whole day is "00:00-24:00")`,
				`weekly.tue[4] "00:00-00:00" is empty: its start and end are the same (the whole day is "00:00-24:00")`,
			}},
		{"overlaps on one day", sched("UTC", map[string][]string{"wed": {"11:00-13:00", "09:00-12:00", "22:00-02:00", "23:00-23:30"}}),
			[]string{
				`weekly.wed[1] "09:00-12:00" and weekly.wed[0] "11:00-13:00" overlap: merge them into one interval`,
				`weekly.wed[2] "22:00-02:00" and weekly.wed[3] "23:00-23:30" overlap: merge them into one interval`,
			}},
		{"an overnight interval into the next day's", sched("UTC", map[string][]string{"fri": {"22:00-02:00"}, "sat": {"01:00-03:00"}}),
			[]string{`weekly.fri[0] "22:00-02:00" runs past midnight into sat and overlaps weekly.sat[0] "01:00-03:00": end the first at 24:00 or start the second later`}},
		{"sunday night into monday", sched("UTC", map[string][]string{"mon": {"00:00-08:00"}, "sun": {"20:00-01:00"}}),
			[]string{`weekly.sun[0] "20:00-01:00" runs past midnight into mon and overlaps weekly.mon[0] "00:00-08:00": end the first at 24:00 or start the second later`}},
		{"the same interval twice", sched("UTC", map[string][]string{"mon": {"09:00-17:00", "09:00-17:00"}}),
			[]string{`weekly.mon[0] "09:00-17:00" and weekly.mon[1] "09:00-17:00" overlap: merge them into one interval`}},
		{"empty weekly", sched("UTC", nil),
			[]string{`weekly has no opening interval: a schedule must open at least once a week (to keep a client from obtaining tokens at all, suspend it)`}},
		{"days without intervals", sched("UTC", map[string][]string{"mon": {}, "tue": nil}),
			[]string{`weekly has no opening interval: a schedule must open at least once a week (to keep a client from obtaining tokens at all, suspend it)`}},
		{"too many intervals", sched("UTC", map[string][]string{"sat": {"01:00-02:00", "03:00-04:00", "05:00-06:00", "07:00-08:00", "09:00-10:00", "11:00-12:00", "13:00-14:00", "15:00-16:00", "17:00-18:00"}}),
			[]string{`weekly.sat has 9 intervals: at most 8 a day`}},
		{"closed dates", sched("UTC", weekdays("09:00-17:00"), "2026-12-25", "2026-02-30", "2026-13-01", "26-12-25", "2026-1-05", "2026-12-25T00:00:00Z", "2026-12-25"),
			[]string{
				`closed_dates[1] "2026-02-30" is not a calendar date YYYY-MM-DD, such as "2026-12-25"`,
				`closed_dates[2] "2026-13-01" is not a calendar date YYYY-MM-DD, such as "2026-12-25"`,
				`closed_dates[3] "26-12-25" is not a calendar date YYYY-MM-DD, such as "2026-12-25"`,
				`closed_dates[4] "2026-1-05" is not a calendar date YYYY-MM-DD, such as "2026-12-25"`,
				`closed_dates[5] "2026-12-25T00:00:00Z" is not a calendar date YYYY-MM-DD, such as "2026-12-25"`,
				`closed_dates[6] "2026-12-25" repeats closed_dates[0]`,
			}},
		{"too many closed dates", sched("UTC", weekdays("09:00-17:00"), make([]string, 367)...),
			[]string{`closed_dates has 367 dates: at most 366`}},
		{"everything at once", &Schedule{TimeZone: "Mars/Olympus", Weekly: map[string][]string{"mon": {"25:00-26:00"}, "someday": {"09:00-10:00"}},
			ClosedDates: []string{"2026-02-30"}},
			[]string{
				`time_zone "Mars/Olympus" is not a known IANA time zone: use a name such as "Europe/Bucharest" or "America/New_York", or "UTC"`,
				`weekly has an unknown day "someday": the days are mon, tue, wed, thu, fri, sat and sun`,
				`weekly.mon[0] "25:00-26:00" has a time past 24:00: times run from 00:00 to 23:59, and 24:00 may end an interval`,
				`closed_dates[0] "2026-02-30" is not a calendar date YYYY-MM-DD, such as "2026-12-25"`,
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for range 3 { // the same problems in the same order every time
				if got := tt.s.Validate(); !slices.Equal(got, tt.want) {
					t.Fatalf("problems\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
				}
			}
			if open, next := tt.s.OpenAt(utc(2026, 3, 2, 10, 0)); open || !next.IsZero() {
				t.Errorf("an invalid schedule is open (%v) or opens (%s)", open, next)
			}
		})
	}
}

// TestScheduleValidateBounded: a hostile schedule gets a bounded list, with
// its values cut short.
func TestScheduleValidateBounded(t *testing.T) {
	w := map[string][]string{}
	for i := range 1000 {
		w[fmt.Sprintf("day%04d", i)] = []string{"x"}
	}
	w["mon"] = []string{strings.Repeat("9", 10000), "1", "2", "3", "4", "5", "6", "7"}
	for _, d := range []string{"tue", "wed", "thu"} {
		w[d] = []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	}
	ps := sched(strings.Repeat("Z", 10000), w).Validate()
	if len(ps) != maxScheduleProblems+1 || !strings.HasPrefix(ps[len(ps)-1], "and ") {
		t.Fatalf("%d problems: %q", len(ps), ps)
	}
	for _, p := range ps {
		if len(p) > 250 {
			t.Errorf("a long problem: %d bytes", len(p))
		}
	}
	if !strings.Contains(ps[1], "weekly has an unknown day") || ps[4] != "weekly has 997 more unknown days" {
		t.Errorf("unknown days: %q", ps[:5])
	}
}

func TestScheduleNil(t *testing.T) {
	var s *Schedule
	if open, next := s.OpenAt(utc(2026, 3, 2, 10, 0)); !open || !next.IsZero() {
		t.Fatalf("a nil schedule: (%v, %s)", open, next)
	}
}

func TestScheduleUTC(t *testing.T) {
	s := sched("UTC", weekdays("09:00-17:00"))
	// 2026-03-02 is a Monday.
	checkOpenAt(t, s,
		open(utc(2026, 3, 2, 9, 0)),
		open(utc(2026, 3, 2, 16, 59).Add(59*time.Second+999999999)),
		closedUntil(utc(2026, 3, 2, 9, 0).Add(-time.Nanosecond), utc(2026, 3, 2, 9, 0)),
		closedUntil(utc(2026, 3, 2, 17, 0), utc(2026, 3, 3, 9, 0)),
		closedUntil(utc(2026, 3, 2, 0, 0), utc(2026, 3, 2, 9, 0)),
		// Over the weekend: Friday evening, Saturday, Sunday night.
		closedUntil(utc(2026, 3, 6, 17, 0), utc(2026, 3, 9, 9, 0)),
		closedUntil(utc(2026, 3, 7, 12, 0), utc(2026, 3, 9, 9, 0)),
		closedUntil(utc(2026, 3, 8, 23, 59), utc(2026, 3, 9, 9, 0)),
	)
	// The instant's own zone does not matter.
	ny := mustLoc(t, "America/New_York")
	checkOpenAt(t, s, open(time.Date(2026, 3, 2, 4, 0, 0, 0, ny)), closedUntil(time.Date(2026, 3, 2, 3, 0, 0, 0, ny), utc(2026, 3, 2, 9, 0)))
	if _, next := s.OpenAt(utc(2026, 3, 2, 8, 0)); next.Location() != time.UTC {
		t.Errorf("next in %s, want the schedule's zone", next.Location())
	}
	// Every day, every minute of it.
	all := sched("UTC", map[string][]string{"mon": {"00:00-24:00"}, "tue": {"00:00-24:00"}, "wed": {"00:00-24:00"},
		"thu": {"00:00-24:00"}, "fri": {"00:00-24:00"}, "sat": {"00:00-24:00"}, "sun": {"00:00-24:00"}})
	for m := range 7 * 1440 {
		if o, _ := all.OpenAt(utc(2026, 3, 2, 0, m)); !o {
			t.Fatalf("closed at minute %d", m)
		}
	}
}

func TestScheduleOvernight(t *testing.T) {
	s := sched("UTC", map[string][]string{"fri": {"22:00-02:00"}, "sat": {"10:00-14:00"}})
	checkOpenAt(t, s,
		closedUntil(utc(2026, 3, 5, 23, 0), utc(2026, 3, 6, 22, 0)), // Thursday night: none
		closedUntil(utc(2026, 3, 6, 21, 59), utc(2026, 3, 6, 22, 0)),
		open(utc(2026, 3, 6, 22, 0)),
		open(utc(2026, 3, 6, 23, 59)),
		open(utc(2026, 3, 7, 0, 0)), // belongs to Friday, on Saturday
		open(utc(2026, 3, 7, 1, 59)),
		closedUntil(utc(2026, 3, 7, 2, 0), utc(2026, 3, 7, 10, 0)),
		closedUntil(utc(2026, 3, 7, 14, 0), utc(2026, 3, 13, 22, 0)),
	)
	// An interval to midnight, written either way.
	for _, iv := range []string{"22:00-24:00", "22:00-00:00"} {
		s := sched("UTC", map[string][]string{"fri": {iv}})
		checkOpenAt(t, s,
			open(utc(2026, 3, 6, 23, 59).Add(59*time.Second)),
			closedUntil(utc(2026, 3, 7, 0, 0), utc(2026, 3, 13, 22, 0)),
		)
	}
	// Sunday night into Monday: the week wraps.
	s = sched("UTC", map[string][]string{"sun": {"23:00-01:00"}})
	checkOpenAt(t, s,
		open(utc(2026, 3, 9, 0, 30)), // Monday
		closedUntil(utc(2026, 3, 9, 1, 0), utc(2026, 3, 15, 23, 0)),
	)
}

func TestScheduleClosedDates(t *testing.T) {
	// A year-end holiday in Bucharest (UTC+2 in winter): 2026-12-24 is a
	// Thursday, 2027-01-01 a Friday.
	s := sched("Europe/Bucharest", weekdays("09:00-17:00"), "2026-12-24", "2026-12-25", "2026-12-31", "2027-01-01")
	checkOpenAt(t, s,
		open(utc(2026, 12, 23, 14, 59)),
		closedUntil(utc(2026, 12, 23, 15, 0), utc(2026, 12, 28, 7, 0)),  // Wednesday 17:00 → Monday 09:00
		closedUntil(utc(2026, 12, 24, 8, 0), utc(2026, 12, 28, 7, 0)),   // on the holiday
		closedUntil(utc(2026, 12, 30, 15, 0), utc(2027, 1, 4, 7, 0)),    // over the year's end
		closedUntil(utc(2026, 12, 31, 22, 30), utc(2027, 1, 4, 7, 0)),   // 00:30 on 1 January, local
		closedUntil(utc(2026, 12, 23, 22, 30), utc(2026, 12, 28, 7, 0)), // 00:30 on the 24th, local, but the 23rd in UTC
		open(utc(2027, 1, 4, 7, 0)),
	)
	// An overnight interval into a closed date: the closed day is closed
	// from its midnight; the closed day's own overnight interval opens
	// again at the next midnight.
	s = sched("UTC", map[string][]string{"thu": {"22:00-02:00"}, "fri": {"22:00-02:00"}}, "2026-12-25") // a Friday
	checkOpenAt(t, s,
		open(utc(2026, 12, 24, 23, 59)),
		closedUntil(utc(2026, 12, 25, 0, 0), utc(2026, 12, 26, 0, 0)),
		closedUntil(utc(2026, 12, 25, 22, 30), utc(2026, 12, 26, 0, 0)),
		open(utc(2026, 12, 26, 1, 0)),
		closedUntil(utc(2026, 12, 26, 2, 0), utc(2026, 12, 31, 22, 0)),
	)
	// Both days closed: the whole night is gone.
	s = sched("UTC", map[string][]string{"thu": {"22:00-02:00"}, "fri": {"22:00-02:00"}}, "2026-12-25", "2026-12-26")
	checkOpenAt(t, s, closedUntil(utc(2026, 12, 25, 0, 0), utc(2026, 12, 31, 22, 0)))
	// A closed date in another zone is that zone's day: in New York
	// 2026-12-25 runs from 05:00 UTC to 05:00 UTC the next day.
	s = sched("America/New_York", map[string][]string{"thu": {"00:00-24:00"}, "fri": {"00:00-24:00"}, "sat": {"00:00-24:00"}}, "2026-12-25")
	checkOpenAt(t, s,
		open(utc(2026, 12, 25, 4, 59)),
		closedUntil(utc(2026, 12, 25, 5, 0), utc(2026, 12, 26, 5, 0)),
		closedUntil(utc(2026, 12, 26, 4, 59), utc(2026, 12, 26, 5, 0)),
	)
}

// TestScheduleNeverOpen: the search for the next opening stops after the
// 366 days that follow the local date.
func TestScheduleNeverOpen(t *testing.T) {
	from := utc(2026, 3, 2, 10, 0) // a Monday; the search covers 2026-03-02 to 2027-03-03
	mondays := func(n int) []string {
		var ds []string
		for i := range n {
			ds = append(ds, from.AddDate(0, 0, 7*i).Format(time.DateOnly))
		}
		return ds
	}
	// Every Monday within the search is closed (53 of them): never.
	s := sched("UTC", map[string][]string{"mon": {"09:00-17:00"}}, mondays(53)...)
	checkOpenAt(t, s, closedForever(from))
	// The last of them open: 364 days ahead.
	s = sched("UTC", map[string][]string{"mon": {"09:00-17:00"}}, mondays(52)...)
	checkOpenAt(t, s, closedUntil(from, utc(2027, 3, 1, 9, 0)))
	// Wednesdays: the 53rd is 2027-03-03, the search's last day.
	wednesdays := func(n int) []string {
		var ds []string
		for i := range n {
			ds = append(ds, from.AddDate(0, 0, 2+7*i).Format(time.DateOnly))
		}
		return ds
	}
	s = sched("UTC", map[string][]string{"wed": {"23:00-24:00"}}, wednesdays(52)...)
	checkOpenAt(t, s, closedUntil(from, utc(2027, 3, 3, 23, 0)))
	s = sched("UTC", map[string][]string{"wed": {"23:00-24:00"}}, wednesdays(53)...)
	checkOpenAt(t, s, closedForever(from))
}

// Daylight-saving changes in 2026:
//   - Europe/Bucharest: Sunday 29 March at 01:00 UTC the clock goes from
//     03:00 EET (UTC+2) to 04:00 EEST (UTC+3): 03:00-04:00 does not exist.
//     Sunday 25 October at 01:00 UTC it goes back from 04:00 EEST to 03:00
//     EET: 03:00-04:00 happens twice (00:00-01:00 and 01:00-02:00 UTC).
//   - America/New_York: Sunday 8 March at 07:00 UTC from 02:00 EST (UTC-5)
//     to 03:00 EDT (UTC-4); Sunday 1 November at 06:00 UTC back from 02:00
//     EDT to 01:00 EST: 01:00-02:00 happens twice (05:00-06:00 and
//     06:00-07:00 UTC).

func TestScheduleDSTWorkingHours(t *testing.T) {
	bu := sched("Europe/Bucharest", weekdays("09:00-17:00"))
	checkOpenAt(t, bu,
		// Spring: Friday 17:00 EET → Monday 09:00 EEST.
		open(utc(2026, 3, 27, 7, 0)),
		closedUntil(utc(2026, 3, 27, 15, 0), utc(2026, 3, 30, 6, 0)),
		closedUntil(utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 6, 0)),
		closedUntil(utc(2026, 3, 30, 5, 59), utc(2026, 3, 30, 6, 0)),
		open(utc(2026, 3, 30, 6, 0)),
		open(utc(2026, 3, 30, 13, 59)),
		closedUntil(utc(2026, 3, 30, 14, 0), utc(2026, 3, 31, 6, 0)),
		// Autumn: Friday 17:00 EEST → Monday 09:00 EET.
		closedUntil(utc(2026, 10, 23, 14, 0), utc(2026, 10, 26, 7, 0)),
		closedUntil(utc(2026, 10, 26, 6, 59), utc(2026, 10, 26, 7, 0)),
		open(utc(2026, 10, 26, 14, 59)),
		closedUntil(utc(2026, 10, 26, 15, 0), utc(2026, 10, 27, 7, 0)),
	)
	ny := sched("America/New_York", weekdays("09:00-17:00"))
	checkOpenAt(t, ny,
		closedUntil(utc(2026, 3, 6, 22, 0), utc(2026, 3, 9, 13, 0)),    // Friday 17:00 EST → Monday 09:00 EDT
		closedUntil(utc(2026, 10, 30, 21, 0), utc(2026, 11, 2, 14, 0)), // Friday 17:00 EDT → Monday 09:00 EST
		open(utc(2026, 11, 2, 21, 59)),
	)
}

// TestScheduleDSTGap: a boundary the clock skips is read with the offset
// before the skip, so it moves later by the skip's length.
func TestScheduleDSTGap(t *testing.T) {
	// Bucharest, Sunday 29 March: 03:30 does not exist; it is read as
	// 03:30 EET, that is 04:30 EEST (01:30 UTC).
	s := sched("Europe/Bucharest", map[string][]string{"sun": {"03:30-05:00"}})
	checkOpenAt(t, s,
		closedUntil(utc(2026, 3, 29, 0, 59).Add(59*time.Second), utc(2026, 3, 29, 1, 30)), // 02:59:59 EET
		closedUntil(utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 30)),                      // 04:00 EEST
		open(utc(2026, 3, 29, 1, 30)),
		open(utc(2026, 3, 29, 1, 59)),
		closedUntil(utc(2026, 3, 29, 2, 0), utc(2026, 4, 5, 0, 30)), // 05:00 EEST; next Sunday 03:30 EEST
	)
	// An interval inside the gap keeps its length.
	s = sched("Europe/Bucharest", map[string][]string{"sun": {"03:00-03:30"}})
	checkOpenAt(t, s,
		closedUntil(utc(2026, 3, 29, 0, 59), utc(2026, 3, 29, 1, 0)),
		open(utc(2026, 3, 29, 1, 0)),
		open(utc(2026, 3, 29, 1, 29)),
		closedUntil(utc(2026, 3, 29, 1, 30), utc(2026, 4, 5, 0, 0)),
	)
	// New York, Sunday 8 March: 02:30 is read as 02:30 EST, 03:30 EDT
	// (07:30 UTC), although time.Date makes it 01:30 EST.
	s = sched("America/New_York", map[string][]string{"sun": {"02:30-04:00"}})
	checkOpenAt(t, s,
		closedUntil(utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 7, 30)), // 01:30 EST
		closedUntil(utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 7, 30)),  // 03:00 EDT
		open(utc(2026, 3, 8, 7, 30)),
		open(utc(2026, 3, 8, 7, 59)),
		closedUntil(utc(2026, 3, 8, 8, 0), utc(2026, 3, 15, 6, 30)),
	)
	s = sched("America/New_York", map[string][]string{"sun": {"02:00-02:30"}})
	checkOpenAt(t, s,
		closedUntil(utc(2026, 3, 8, 6, 59), utc(2026, 3, 8, 7, 0)),
		open(utc(2026, 3, 8, 7, 0)), // 03:00 EDT
		open(utc(2026, 3, 8, 7, 29)),
		closedUntil(utc(2026, 3, 8, 7, 30), utc(2026, 3, 15, 6, 0)),
	)
	// Into the gap from before it: 01:30 EST to "02:30" = 03:30 EDT, an hour.
	s = sched("America/New_York", map[string][]string{"sun": {"01:30-02:30"}})
	checkOpenAt(t, s,
		closedUntil(utc(2026, 3, 8, 6, 29), utc(2026, 3, 8, 6, 30)),
		open(utc(2026, 3, 8, 6, 30)),
		open(utc(2026, 3, 8, 7, 0)),
		open(utc(2026, 3, 8, 7, 29)),
		closedUntil(utc(2026, 3, 8, 7, 30), utc(2026, 3, 15, 5, 30)),
	)
	// Starting in the gap, ending less than an hour after it starts: it
	// does not open that night ("02:30" is 03:30 EDT, after 03:15 EDT).
	s = sched("America/New_York", map[string][]string{"sun": {"02:30-03:15"}})
	checkOpenAt(t, s, closedUntil(utc(2026, 3, 8, 6, 0), utc(2026, 3, 15, 6, 30)))
}

// TestScheduleDSTRepeatedHour: in the hour the clock shows twice, a time
// inside an interval is inside both times.
func TestScheduleDSTRepeatedHour(t *testing.T) {
	s := sched("America/New_York", map[string][]string{"sun": {"01:00-01:30"}})
	checkOpenAt(t, s,
		closedUntil(utc(2026, 11, 1, 4, 59), utc(2026, 11, 1, 5, 0)),
		open(utc(2026, 11, 1, 5, 0)),  // 01:00 EDT
		open(utc(2026, 11, 1, 5, 29)), // 01:29 EDT
		closedUntil(utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 0)),
		open(utc(2026, 11, 1, 6, 0)),  // 01:00 EST
		open(utc(2026, 11, 1, 6, 15)), // 01:15 EST
		closedUntil(utc(2026, 11, 1, 6, 30), utc(2026, 11, 8, 6, 0)),
	)
	s = sched("America/New_York", map[string][]string{"sun": {"00:00-01:30"}})
	checkOpenAt(t, s,
		open(utc(2026, 11, 1, 4, 0)),
		open(utc(2026, 11, 1, 5, 29)),
		closedUntil(utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 0)),
		open(utc(2026, 11, 1, 6, 29)),
		closedUntil(utc(2026, 11, 1, 6, 30), utc(2026, 11, 8, 5, 0)),
	)
	s = sched("Europe/Bucharest", map[string][]string{"sun": {"03:00-03:30"}})
	checkOpenAt(t, s,
		closedUntil(utc(2026, 10, 24, 23, 59), utc(2026, 10, 25, 0, 0)),
		open(utc(2026, 10, 25, 0, 0)),  // 03:00 EEST
		open(utc(2026, 10, 25, 0, 15)), // 03:15 EEST
		closedUntil(utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 0)),
		open(utc(2026, 10, 25, 1, 15)), // 03:15 EET
		closedUntil(utc(2026, 10, 25, 1, 30), utc(2026, 11, 1, 1, 0)),
	)
	// Spanning the repeated hour: open through both.
	s = sched("Europe/Bucharest", map[string][]string{"sun": {"02:30-04:30"}})
	checkOpenAt(t, s,
		closedUntil(utc(2026, 10, 24, 23, 29), utc(2026, 10, 24, 23, 30)),
		open(utc(2026, 10, 24, 23, 30)),
		open(utc(2026, 10, 25, 0, 59)),
		open(utc(2026, 10, 25, 1, 0)),
		open(utc(2026, 10, 25, 2, 29)),
		closedUntil(utc(2026, 10, 25, 2, 30), utc(2026, 11, 1, 0, 30)),
	)
}

// TestScheduleDSTOvernight: overnight intervals across a change of offset
// last their wall-clock span, an hour shorter or longer.
func TestScheduleDSTOvernight(t *testing.T) {
	bu := sched("Europe/Bucharest", map[string][]string{"sat": {"22:00-06:00"}})
	checkOpenAt(t, bu,
		// Spring: 22:00 EET (20:00 UTC) to 06:00 EEST (03:00 UTC), 7 h.
		closedUntil(utc(2026, 3, 28, 19, 59), utc(2026, 3, 28, 20, 0)),
		open(utc(2026, 3, 28, 20, 0)),
		open(utc(2026, 3, 29, 1, 0)),
		open(utc(2026, 3, 29, 2, 59)),
		closedUntil(utc(2026, 3, 29, 3, 0), utc(2026, 4, 4, 19, 0)),
		// Autumn: 22:00 EEST (19:00 UTC) to 06:00 EET (04:00 UTC), 9 h.
		closedUntil(utc(2026, 10, 24, 18, 59), utc(2026, 10, 24, 19, 0)),
		open(utc(2026, 10, 25, 0, 30)),
		open(utc(2026, 10, 25, 1, 30)),
		open(utc(2026, 10, 25, 3, 59)),
		closedUntil(utc(2026, 10, 25, 4, 0), utc(2026, 10, 31, 20, 0)),
	)
	ny := sched("America/New_York", map[string][]string{"sat": {"22:00-06:00"}})
	checkOpenAt(t, ny,
		// Spring: 22:00 EST (03:00 UTC) to 06:00 EDT (10:00 UTC).
		closedUntil(utc(2026, 3, 8, 2, 59), utc(2026, 3, 8, 3, 0)),
		open(utc(2026, 3, 8, 9, 59)),
		closedUntil(utc(2026, 3, 8, 10, 0), utc(2026, 3, 15, 2, 0)),
		// Autumn: 22:00 EDT (02:00 UTC) to 06:00 EST (11:00 UTC).
		closedUntil(utc(2026, 11, 1, 1, 59), utc(2026, 11, 1, 2, 0)),
		open(utc(2026, 11, 1, 10, 59)),
		closedUntil(utc(2026, 11, 1, 11, 0), utc(2026, 11, 8, 3, 0)),
	)
	// Ending in the gap: "02:30" is 03:30 EDT.
	ny = sched("America/New_York", map[string][]string{"sat": {"23:00-02:30"}})
	checkOpenAt(t, ny,
		open(utc(2026, 3, 8, 7, 15)),
		closedUntil(utc(2026, 3, 8, 7, 30), utc(2026, 3, 15, 3, 0)),
	)
	// An overnight interval into a closed date across the change.
	bu = sched("Europe/Bucharest", map[string][]string{"sat": {"22:00-06:00"}}, "2026-03-29")
	checkOpenAt(t, bu,
		open(utc(2026, 3, 28, 21, 59)),
		closedUntil(utc(2026, 3, 28, 22, 0), utc(2026, 4, 4, 19, 0)), // Sunday 00:00 EET
	)
}

// TestScheduleNextIsFirstOpening: around every change of offset of 2026 in
// several zones, at every minute (and half-minute), next is the first
// instant OpenAt says open, and on days without a skipped hour OpenAt
// agrees with a plain reading of the wall clock.
func TestScheduleNextIsFirstOpening(t *testing.T) {
	// Boundaries in and around the hours that move (New York 02:00,
	// Bucharest 03:00-04:00, Santiago's midnight, Lord Howe's half hour).
	weekly := map[string][]string{
		"mon": {"09:00-17:00"},
		"tue": {"00:00-00:30", "01:00-01:30", "02:10-02:40", "03:00-03:20", "03:40-04:10", "23:30-00:45"},
		"wed": {"01:00-02:15", "12:00-12:01"},
		"thu": {"22:00-02:00"},
		"fri": {"02:00-03:00", "23:59-24:00"},
		"sat": {"00:00-00:30", "01:00-01:30", "02:10-02:40", "03:00-03:20", "03:40-04:10", "23:30-00:45"},
		"sun": {"00:50-01:10", "02:10-02:40", "02:50-03:10", "06:00-05:00"}, // open again as the clock goes back
	}
	for _, tz := range []string{"Europe/Bucharest", "America/New_York", "America/Santiago", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"} {
		t.Run(tz, func(t *testing.T) {
			l := mustLoc(t, tz)
			// The changes of 2026, or a plain week.
			var changes []time.Time
			for at := utc(2026, 1, 1, 0, 0); ; {
				_, end := at.In(l).ZoneBounds()
				if end.IsZero() || end.Year() > 2026 {
					break
				}
				changes = append(changes, end)
				at = end
			}
			if len(changes) == 0 {
				changes = []time.Time{utc(2026, 6, 1, 0, 0)}
			}
			for _, ch := range changes {
				closed := []string{ch.In(l).AddDate(0, 0, 2).Format(time.DateOnly)}
				for _, s := range []*Schedule{sched(tz, weekly), sched(tz, weekly, closed...)} {
					if ps := s.Validate(); ps != nil {
						t.Fatal(ps)
					}
					checkFirstOpenings(t, s, l, ch.Add(-4*24*time.Hour), ch.Add(4*24*time.Hour))
				}
			}
		})
	}
}

func checkFirstOpenings(t *testing.T, s *Schedule, l *time.Location, from, to time.Time) {
	t.Helper()
	n := int(to.Sub(from) / time.Minute)
	opens := make([]bool, n)
	for i := range n {
		opens[i], _ = s.OpenAt(from.Add(time.Duration(i) * time.Minute))
	}
	// first[i]: the first open minute after minute i, or n.
	first := make([]int, n)
	f := n
	for i := n - 1; i >= 0; i-- {
		first[i] = f
		if opens[i] {
			f = i
		}
	}
	for i := range n {
		at := from.Add(time.Duration(i) * time.Minute)
		if !skipsHour(l, at) {
			if want := plainOpen(s, at.In(l)); opens[i] != want {
				t.Fatalf("OpenAt(%s = %s) %v, the wall clock says %v", at.UTC(), at.In(l).Format("Mon 15:04 MST"), opens[i], want)
			}
		}
		for _, d := range []time.Duration{0, 30 * time.Second} {
			o, next := s.OpenAt(at.Add(d))
			if o != opens[i] {
				t.Fatalf("OpenAt(%s) %v, at the minute %v", at.Add(d), o, opens[i])
			}
			if o {
				continue
			}
			if first[i] < n {
				if want := from.Add(time.Duration(first[i]) * time.Minute); !next.Equal(want) {
					t.Fatalf("OpenAt(%s = %s) opens %s, the first open minute is %s", at.Add(d).UTC(), at.In(l).Format("Mon 15:04 MST"),
						fmtNext(next), fmtNext(want))
				}
			} else if !next.IsZero() && next.Before(to) {
				t.Fatalf("OpenAt(%s) opens %s, before %s with no open minute", at.Add(d), fmtNext(next), to)
			}
		}
	}
}

// skipsHour reports whether the local day of at or the day before has a
// gap, a time the clock skips.
func skipsHour(l *time.Location, at time.Time) bool {
	lt := at.In(l)
	for _, day := range []int{-1, 0} {
		start := time.Date(lt.Year(), lt.Month(), lt.Day()+day, 0, 0, 0, 0, l)
		_, off0 := start.Zone()
		_, off1 := start.Add(48 * time.Hour).Zone()
		if off1 > off0 || start.Hour() != 0 {
			return true
		}
	}
	return false
}

// plainOpen reads the schedule off the wall clock, as a person would.
func plainOpen(s *Schedule, lt time.Time) bool {
	if slices.Contains(s.ClosedDates, lt.Format(time.DateOnly)) {
		return false
	}
	m := lt.Hour()*60 + lt.Minute()
	key := func(wd time.Weekday) string { return [...]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}[wd] }
	clock := func(v string) int {
		var h, mm int
		fmt.Sscanf(v, "%d:%d", &h, &mm)
		return h*60 + mm
	}
	for _, iv := range s.Weekly[key(lt.Weekday())] {
		st, en := clock(iv[:5]), clock(iv[6:])
		if m >= st && (en <= st || m < en) {
			return true
		}
	}
	for _, iv := range s.Weekly[key((lt.Weekday()+6)%7)] {
		if st, en := clock(iv[:5]), clock(iv[6:]); en < st && m < en {
			return true
		}
	}
	return false
}

// TestScheduleChanges: a schedule changed in place is read anew; copies and
// equal schedules share their compiled form.
func TestScheduleChanges(t *testing.T) {
	monday := utc(2026, 3, 2, 10, 0)
	s := sched("UTC", map[string][]string{"mon": {"09:00-17:00"}})
	checkOpenAt(t, s, open(monday))
	s.Weekly["mon"][0] = "11:00-17:00"
	checkOpenAt(t, s, closedUntil(monday, utc(2026, 3, 2, 11, 0)))
	s.Weekly["mon"] = append(s.Weekly["mon"], "09:00-10:30")
	checkOpenAt(t, s, open(monday))
	s.ClosedDates = []string{"2026-03-02"}
	checkOpenAt(t, s, closedUntil(monday, utc(2026, 3, 9, 9, 0)))
	s.TimeZone = "Asia/Tokyo" // 19:00 on Monday
	checkOpenAt(t, s, closedUntil(monday, utc(2026, 3, 9, 0, 0)))
	s.Weekly["someday"] = nil
	checkOpenAt(t, s, closedForever(monday))
	delete(s.Weekly, "someday")
	s.Weekly["tue"] = nil // present but empty: the same hours
	checkOpenAt(t, s, closedUntil(monday, utc(2026, 3, 9, 0, 0)))

	// Equal content, one compiled schedule.
	a := sched("Europe/Bucharest", weekdays("09:00-17:00"), "2026-12-25")
	b := sched("Europe/Bucharest", weekdays("09:00-17:00"), "2026-12-25")
	if lookupSchedule(a) != lookupSchedule(b) {
		t.Error("equal schedules compiled twice")
	}
	if lookupSchedule(a) == lookupSchedule(sched("Europe/Bucharest", weekdays("09:00-17:00"), "2026-12-26")) {
		t.Error("different schedules share a compiled form")
	}
}

// TestScheduleCacheBounded: more schedules than the cache holds are all
// answered right, and the cache stays its size.
func TestScheduleCacheBounded(t *testing.T) {
	monday := utc(2026, 3, 2, 10, 0)
	for round := range 2 {
		for i := range 2 * scheduleCacheSlots {
			start := fmt.Sprintf("%02d:%02d", i/60%24, i%60)
			s := sched("Europe/Bucharest", map[string][]string{"mon": {start + "-24:00"}}) // 12:00 local at 10:00 UTC
			wantOpen := i/60%24*60+i%60 <= 12*60
			if open, _ := s.OpenAt(monday); open != wantOpen {
				t.Fatalf("round %d, %s: open %v", round, start, open)
			}
		}
	}
}

func TestScheduleConcurrent(t *testing.T) {
	monday := utc(2026, 3, 2, 10, 0)
	shared := sched("America/New_York", weekdays("05:00-12:00"))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			own := sched("UTC", map[string][]string{"mon": {fmt.Sprintf("%02d:00-24:00", g)}})
			for range 500 {
				if o, _ := shared.OpenAt(monday); !o {
					t.Error("shared closed")
					return
				}
				if o, _ := own.OpenAt(monday); !o {
					t.Error("own closed")
					return
				}
				if ps := own.Validate(); ps != nil {
					t.Error(ps)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestScheduleOpenAtAllocates(t *testing.T) {
	s := sched("Europe/Bucharest", weekdays("09:00-17:00"), "2026-12-25")
	for name, at := range map[string]time.Time{"open": utc(2026, 3, 3, 8, 0), "closed": utc(2026, 3, 6, 16, 0)} {
		if n := testing.AllocsPerRun(100, func() { s.OpenAt(at) }); n > 0 {
			t.Errorf("%s: %v allocations a check", name, n)
		}
	}
}

func BenchmarkOpenAt(b *testing.B) {
	bu := sched("Europe/Bucharest", weekdays("09:00-12:00", "13:00-17:00"), "2026-12-24", "2026-12-25", "2026-12-31", "2027-01-01")
	ny := sched("America/New_York", map[string][]string{"fri": {"22:00-02:00"}, "sat": {"10:00-14:00"}})
	for _, bm := range []struct {
		name string
		s    *Schedule
		at   time.Time
	}{
		{"open", bu, utc(2026, 3, 3, 8, 0)}, // Tuesday 10:00 EET
		{"open-utc", sched("UTC", weekdays("09:00-17:00")), utc(2026, 3, 3, 10, 0)},
		{"open-overnight", ny, utc(2026, 3, 7, 5, 0)},
		{"closed-lunch", bu, utc(2026, 3, 3, 10, 30)},
		{"closed-weekend", bu, utc(2026, 3, 7, 10, 0)},
		{"closed-dst-weekend", bu, utc(2026, 3, 28, 10, 0)},
		{"closed-year-end", bu, utc(2026, 12, 23, 16, 0)},
		{"closed-week", ny, utc(2026, 3, 8, 12, 0)},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			bm.s.OpenAt(bm.at)
			for b.Loop() {
				bm.s.OpenAt(bm.at)
			}
		})
	}
	b.Run("never-open", func(b *testing.B) {
		from := utc(2026, 3, 2, 10, 0)
		var ds []string
		for i := range 53 {
			ds = append(ds, from.AddDate(0, 0, 7*i).Format(time.DateOnly))
		}
		s := sched("Europe/Bucharest", map[string][]string{"mon": {"09:00-17:00"}}, ds...)
		b.ReportAllocs()
		for b.Loop() {
			s.OpenAt(from)
		}
	})
	b.Run("parallel-open", func(b *testing.B) {
		b.ReportAllocs()
		at := utc(2026, 3, 3, 8, 0)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				bu.OpenAt(at)
			}
		})
	})
}
