package store

import (
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Schedule is a weekly opening schedule in an IANA time zone: when a client
// (or a data provider) may be used. Intervals are local wall-clock times;
// one that ends before it starts ("22:00-02:00") runs past midnight into
// the next day. A closed date closes that whole local day.
//
//	{"time_zone": "Europe/Bucharest",
//	 "weekly": {"mon": ["09:00-17:00"], "sat": ["10:00-14:00"]},
//	 "closed_dates": ["2026-12-25"]}
//
// # Rules (docs/policy.md repeats them)
//
//   - An interval "HH:MM-HH:MM" holds its start and not its end. Times are
//     00:00 to 23:59; "24:00" may end an interval ("18:00-24:00"), never
//     start one. Start and end may not be equal ("00:00-24:00" is the whole
//     day). An interval whose end is before its start ("22:00-02:00") runs
//     from 22:00 on its day to 02:00 on the next, and belongs to the day it
//     starts on ("fri": ["22:00-02:00"] is Friday night into Saturday).
//     Intervals that touch ("09:00-12:00", "12:00-17:00") are fine; intervals
//     that overlap are refused, also when an overnight interval runs into an
//     interval of the next day (and Sunday night into Monday).
//   - At most 8 intervals a day and 366 closed dates. A day may be absent or
//     empty (closed every week), but the schedule as a whole must open at
//     least once a week: an empty weekly is invalid, not "always closed" (a
//     client that must never obtain tokens is suspended instead).
//   - A closed date closes exactly its local calendar day, 00:00 to 24:00:
//     also the part of the previous day's overnight interval that falls on
//     it. The part of the closed day's own overnight interval that falls on
//     the next day stays open, unless that day is closed too.
//   - Daylight-saving time. Intervals follow the local wall clock. In the
//     fall-back hour, which the clock shows twice, a time inside an interval
//     is inside both times: in America/New_York on the first Sunday of
//     November "01:00-01:30" is open 01:00-01:30 EDT and again 01:00-01:30
//     EST. A boundary that falls in the spring-forward gap, a time the
//     clock skips, is read with the UTC offset before the gap (as RFC 5545
//     §3.3.5 reads such a time), that is, moved later by the length of the
//     gap: in America/New_York on the second Sunday of March "02:30" is
//     03:30 EDT, in Europe/Bucharest on the last Sunday of March "03:30" is
//     04:30 EEST. So "02:00-02:30" in New York that night is open 03:00-03:30
//     EDT, and an interval that starts in the gap and ends less than the
//     gap's length after it ("02:30-03:15") does not open that night. (Go's
//     time.Date leaves the choice open and, in zones west of UTC, picks the
//     offset after the gap: 02:30 becomes 01:30 EST; the rule above is
//     applied on top of it.)
//   - OpenAt on a nil schedule is always open (no schedule, no restriction);
//     on an invalid one it is never open (and says no opening comes): a
//     schedule that cannot be read, say its zone is unknown to this
//     server, fails closed.
//
// The zone database: time.LoadLocation reads the system's zoneinfo. So that
// grantd works where there is none (scratch containers), cmd/grantd should
// import _ "time/tzdata", which embeds a copy (about 450 kB).
//
// Speed: OpenAt is on the token path. Loaded locations are cached by name
// and each schedule is compiled once per content (a bounded package-level
// cache keyed by a hash of the schedule's fields, checked field by field),
// so an open check costs a few hundred nanoseconds and allocates nothing. A
// Schedule stays a plain, comparable-by-content, copyable value: changing
// its fields is seen by the next OpenAt.
type Schedule struct {
	TimeZone    string              `json:"time_zone" yaml:"time_zone"`
	Weekly      map[string][]string `json:"weekly" yaml:"weekly"`                       // mon … sun → ["HH:MM-HH:MM", …]
	ClosedDates []string            `json:"closed_dates,omitempty" yaml:"closed_dates"` // YYYY-MM-DD, local
}

// Size bounds of a schedule.
const (
	MaxScheduleIntervals   = 8   // intervals a day
	MaxScheduleClosedDates = 366 // closed dates
	maxTimeZoneLen         = 64  // the longest IANA name has 32 characters
	maxScheduleProblems    = 20  // problems Validate lists before summing up
	scheduleSearchDays     = 366 // how far OpenAt looks for the next opening
)

// scheduleDays are the weekly keys, Monday first (the order of Validate's
// problems); scheduleDays[i] is time.Weekday((i+1)%7).
var scheduleDays = [7]string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// Validate lists every problem of s at once; nil when it is valid. A nil
// schedule is valid (no restriction).
func (s *Schedule) Validate() []string {
	if s == nil {
		return nil
	}
	return compileSchedule(s).problems
}

// OpenAt reports whether the schedule is open at t and, when it is not,
// the next time it opens (zero when it never does within a year: the
// search covers t's local date and the 366 days after it). next is in the
// schedule's time zone; it is zero when open.
func (s *Schedule) OpenAt(t time.Time) (open bool, next time.Time) {
	if s == nil {
		return true, time.Time{}
	}
	c := lookupSchedule(s)
	if c == nil || c.problems != nil {
		return false, time.Time{}
	}
	lt := t.In(c.loc)
	p := periodOf(lt)
	if c.openWall(lt.Unix()+p.off, &p) {
		return true, time.Time{}
	}
	return false, c.next(lt, p)
}

// span is an interval in minutes from the start of its day: start in
// [0, 1440), end in (start, start+1440); an overnight interval's end is
// past 1440.
type span struct{ start, end int32 }

// compiledSchedule is a schedule read once: its location, its intervals by
// weekday and its closed dates as day numbers, with a copy of the fields it
// was read from (to check a cache hit) and its problems (nil when valid).
type compiledSchedule struct {
	hash    uint64
	tz      string
	present uint8 // bit i: scheduleDays[i] is a key of Weekly
	weekly  [7][]string
	dates   []string

	problems []string
	loc      *time.Location
	days     [7][]span // by time.Weekday
	closed   []int64   // sorted local day numbers (days since 1970-01-01)
}

// compileSchedule reads s, listing its problems.
func compileSchedule(s *Schedule) *compiledSchedule {
	c := &compiledSchedule{tz: s.TimeZone, dates: slices.Clone(s.ClosedDates)}
	var ps problemList

	// The time zone.
	switch loc, err := loadLocation(s.TimeZone); {
	case s.TimeZone == "":
		ps.add(`time_zone is required: an IANA time zone such as "Europe/Bucharest", or "UTC"`)
	case s.TimeZone == "Local":
		ps.add(`time_zone "Local" is this server's own zone: name an IANA time zone such as "Europe/Bucharest", or "UTC"`)
	case err != nil:
		ps.add("time_zone %s is not a known IANA time zone: use a name such as \"Europe/Bucharest\" or \"America/New_York\", or \"UTC\"", quote(s.TimeZone))
	default:
		c.loc = loc
	}

	// Unknown day keys, sorted so the problems come in the same order.
	var unknown []string
	for k := range s.Weekly {
		if !slices.Contains(scheduleDays[:], k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for i, k := range unknown {
		if i == 3 {
			ps.add("weekly has %d more unknown days", len(unknown)-i)
			break
		}
		ps.add("weekly has an unknown day %s: the days are mon, tue, wed, thu, fri, sat and sun", quote(k))
	}

	// The intervals, day by day.
	type placed struct {
		day   int // index in scheduleDays
		idx   int
		text  string
		start int32 // minutes from Monday 00:00
		end   int32
	}
	var all []placed
	count := 0
	for i, day := range scheduleDays {
		ivs, ok := s.Weekly[day]
		if !ok {
			continue
		}
		c.present |= 1 << i
		c.weekly[i] = slices.Clone(ivs)
		count += len(ivs)
		if len(ivs) > MaxScheduleIntervals {
			ps.add("weekly.%s has %d intervals: at most %d a day", day, len(ivs), MaxScheduleIntervals)
			continue
		}
		wd := (i + 1) % 7
		for j, iv := range ivs {
			start, end, msg := parseInterval(iv)
			if msg != "" {
				ps.add("weekly.%s[%d] %s %s", day, j, quote(iv), msg)
				continue
			}
			c.days[wd] = append(c.days[wd], span{start, end})
			all = append(all, placed{i, j, iv, int32(i)*1440 + start, int32(i)*1440 + end})
		}
	}
	for wd := range c.days {
		slices.SortFunc(c.days[wd], func(a, b span) int { return int(a.start - b.start) })
	}
	// Overlaps, over the week as a circle (Sunday night runs into Monday).
	const week = 7 * 1440
	for i, a := range all {
		for _, b := range all[i+1:] {
			for _, shift := range [...]int32{-week, 0, week} {
				if a.start < b.end+shift && b.start+shift < a.end {
					first, second := a, b
					if shift < 0 || (shift == 0 && b.start < a.start) {
						first, second = b, a
					}
					if first.day == second.day {
						ps.add("weekly.%s[%d] %s and weekly.%s[%d] %s overlap: merge them into one interval",
							scheduleDays[first.day], first.idx, quote(first.text), scheduleDays[second.day], second.idx, quote(second.text))
					} else {
						ps.add("weekly.%s[%d] %s runs past midnight into %s and overlaps weekly.%s[%d] %s: end the first at 24:00 or start the second later",
							scheduleDays[first.day], first.idx, quote(first.text), scheduleDays[second.day],
							scheduleDays[second.day], second.idx, quote(second.text))
					}
					break
				}
			}
		}
	}
	if count == 0 { // not when intervals were written but are wrong: they are reported
		ps.add("weekly has no opening interval: a schedule must open at least once a week (to keep a client from obtaining tokens at all, suspend it)")
	}

	// Closed dates.
	if len(s.ClosedDates) > MaxScheduleClosedDates {
		ps.add("closed_dates has %d dates: at most %d", len(s.ClosedDates), MaxScheduleClosedDates)
	} else {
		seen := make(map[int64]int, len(s.ClosedDates))
		for i, d := range s.ClosedDates {
			t, err := time.Parse(time.DateOnly, d)
			if err != nil || len(d) != len(time.DateOnly) {
				ps.add("closed_dates[%d] %s is not a calendar date YYYY-MM-DD, such as \"2026-12-25\"", i, quote(d))
				continue
			}
			n := floorDiv(t.Unix(), 86400)
			if j, dup := seen[n]; dup {
				ps.add("closed_dates[%d] %s repeats closed_dates[%d]", i, quote(d), j)
				continue
			}
			seen[n] = i
			c.closed = append(c.closed, n)
		}
		slices.Sort(c.closed)
	}

	c.problems = ps.list()
	return c
}

// parseInterval reads "HH:MM-HH:MM" into minutes: start in [0, 1440), end
// in (start, start+1440). msg says what is wrong, "" when nothing is.
func parseInterval(v string) (start, end int32, msg string) {
	const want = `is not an interval "HH:MM-HH:MM" of 24-hour times, such as "09:00-17:00"`
	if len(v) != len("09:00-17:00") || v[5] != '-' {
		return 0, 0, want
	}
	start, ok1 := parseClock(v[:5])
	end, ok2 := parseClock(v[6:])
	switch {
	case !ok1 || !ok2:
		return 0, 0, want
	case start > 1440 || end > 1440:
		return 0, 0, "has a time past 24:00: times run from 00:00 to 23:59, and 24:00 may end an interval"
	case start == 1440:
		return 0, 0, "starts at 24:00, which may only end an interval: start at 00:00"
	case start == end:
		return 0, 0, `is empty: its start and end are the same (the whole day is "00:00-24:00")`
	case end < start:
		end += 1440 // overnight
	}
	return start, end, ""
}

// parseClock reads "HH:MM", hours 00 to 99 and minutes 00 to 59, into
// minutes; the caller checks the range.
func parseClock(v string) (int32, bool) {
	if len(v) != 5 || v[2] != ':' {
		return 0, false
	}
	for _, i := range [...]int{0, 1, 3, 4} {
		if v[i] < '0' || v[i] > '9' {
			return 0, false
		}
	}
	h := int32(v[0]-'0')*10 + int32(v[1]-'0')
	m := int32(v[3]-'0')*10 + int32(v[4]-'0')
	if m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// problemList collects Validate's problems, summing up past
// maxScheduleProblems.
type problemList struct {
	ps   []string
	more int
}

func (l *problemList) add(format string, args ...any) {
	if len(l.ps) < maxScheduleProblems {
		l.ps = append(l.ps, fmt.Sprintf(format, args...))
	} else {
		l.more++
	}
}

func (l *problemList) list() []string {
	if l.more > 0 {
		l.ps = append(l.ps, fmt.Sprintf("and %d more problems", l.more))
	}
	return l.ps
}

// quote quotes a value for a problem, cut to 40 bytes.
func quote(v string) string {
	if len(v) > 40 {
		return strconv.Quote(v[:40]) + "…"
	}
	return strconv.Quote(v)
}

// locations caches time.LoadLocation by name; only names that load are
// kept, so the cache holds at most the zone database's few hundred zones.
var locations sync.Map // string → *time.Location

func loadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" || len(name) > maxTimeZoneLen {
		return nil, fmt.Errorf("refused time zone %q", name)
	}
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, l)
	return l, nil
}

// The compiled-schedule cache: a two-way set-associative table of
// scheduleCacheSlots entries, read and written without locks. A schedule
// hashes to two slots; a miss compiles it and takes the empty one, else
// evicts one. So the cache is bounded, and a schedule evicted is compiled
// again on its next use.
const scheduleCacheSlots = 1 << 12

var (
	scheduleCache [scheduleCacheSlots]atomic.Pointer[compiledSchedule]
	scheduleSeed  = maphash.MakeSeed()
)

// lookupSchedule is s compiled, from the cache when it was seen; nil when
// Weekly has a key that is not a day (an invalid schedule, not cached).
func lookupSchedule(s *Schedule) *compiledSchedule {
	// The hash only picks the slots: a hit is checked field by field, so
	// it need not tell every two schedules apart, and it does not.
	var h maphash.Hash
	h.SetSeed(scheduleSeed)
	h.WriteString(s.TimeZone)
	var weekly [7][]string
	var present uint8
	known := 0
	for i, day := range scheduleDays {
		ivs, ok := s.Weekly[day]
		h.WriteByte(byte(i))
		if !ok {
			continue
		}
		known++
		present |= 1 << i
		weekly[i] = ivs
		for _, iv := range ivs {
			h.WriteString(iv)
		}
	}
	if known != len(s.Weekly) {
		return nil
	}
	for _, d := range s.ClosedDates {
		h.WriteString(d)
	}
	sum := h.Sum64()

	matches := func(c *compiledSchedule) bool {
		if c == nil || c.hash != sum || c.tz != s.TimeZone || c.present != present || !slices.Equal(c.dates, s.ClosedDates) {
			return false
		}
		for i := range weekly {
			if !slices.Equal(c.weekly[i], weekly[i]) {
				return false
			}
		}
		return true
	}
	a, b := &scheduleCache[sum%scheduleCacheSlots], &scheduleCache[(sum>>32)%scheduleCacheSlots]
	ca, cb := a.Load(), b.Load()
	if matches(ca) {
		return ca
	}
	if matches(cb) {
		return cb
	}
	c := compileSchedule(s)
	c.hash = sum
	switch {
	case ca == nil:
		a.Store(c)
	case cb == nil:
		b.Store(c)
	case sum&(1<<63) == 0:
		a.Store(c)
	default:
		b.Store(c)
	}
	return c
}

// period is a stretch of time with one UTC offset, as time.ZoneBounds
// gives it: every wall-clock second in [loW, hiW) happens in it, once.
// Wall-clock times are counted in seconds since 1970-01-01 00:00 on the
// local clock (the instant's Unix time plus its offset).
type period struct {
	off      int64 // UTC offset, seconds
	loW, hiW int64 // wall-clock range; MinInt64 / MaxInt64 when unbounded
	hi       int64 // Unix time of the end; MaxInt64 when unbounded
}

// periodOf is the period of lt (already in the schedule's location).
func periodOf(lt time.Time) period {
	_, off := lt.Zone()
	zs, ze := lt.ZoneBounds()
	p := period{off: int64(off), loW: math.MinInt64, hiW: math.MaxInt64, hi: math.MaxInt64}
	if !zs.IsZero() {
		p.loW = zs.Unix() + p.off
	}
	if !ze.IsZero() {
		p.hi = ze.Unix()
		p.hiW = p.hi + p.off
	}
	return p
}

// norm is the wall-clock time at which the boundary min (minutes, up to
// two days) of local day happens: itself, unless it falls in a gap the
// clock skips, where it is read with the offset before the gap. It needs
// the zone database only when the boundary is outside p.
func (c *compiledSchedule) norm(p *period, day int64, min int32) int64 {
	x := day*86400 + int64(min)*60
	if x >= p.loW && x < p.hiW {
		return x
	}
	d := floorDiv(x, 86400)
	b := time.Date(1970, time.January, 1+int(d), 0, 0, int(x-d*86400), 0, c.loc)
	_, off := b.Zone()
	if w := b.Unix() + int64(off); w >= x {
		return w // x happens (w == x), or time.Date read it with the offset before the gap
	}
	// time.Date read x, a time in a gap, with the offset after it (so
	// before the gap, at w < x): read it with the one before, which is b's.
	i := x - int64(off)
	_, off = time.Unix(i, 0).In(c.loc).Zone()
	return i + int64(off)
}

// openWall reports whether the schedule is open at wall-clock time w, in
// period p (which holds w).
func (c *compiledSchedule) openWall(w int64, p *period) bool {
	d := floorDiv(w, 86400)
	if c.isClosed(d) {
		return false
	}
	for day := d; day >= d-1; day-- { // today's intervals and yesterday's overnight ones
		for _, sp := range c.days[weekday(day)] {
			if w < c.norm(p, day, sp.end) && w >= c.norm(p, day, sp.start) {
				return true
			}
		}
	}
	return false
}

// next is the first instant after lt (closed) at which the schedule opens,
// within lt's local date and the scheduleSearchDays after; zero if none.
// The schedule opens only where the wall clock reaches a local day's
// start or an interval's start, or jumps (a change of offset): within each
// period it tries those, in order.
func (c *compiledSchedule) next(lt time.Time, p period) time.Time {
	tu := lt.Unix()
	w0 := tu + p.off
	limit := (floorDiv(w0, 86400) + scheduleSearchDays + 1) * 86400
	var buf [1 + 2*MaxScheduleIntervals]int64
	for {
		hi := min(p.hiW, limit)
		for d := floorDiv(w0, 86400); d*86400 < hi; d++ {
			if c.isClosed(d) {
				continue
			}
			lo := d * 86400
			cands := append(buf[:0], lo)
			for day := d; day >= d-1; day-- {
				for _, sp := range c.days[weekday(day)] {
					if x := c.norm(&p, day, sp.start); x > lo && x < lo+86400 {
						cands = append(cands, x)
					}
				}
			}
			slices.Sort(cands)
			for _, x := range cands {
				if x < w0 || x >= hi || x-p.off <= tu {
					continue
				}
				if c.openWall(x, &p) {
					return time.Unix(x-p.off, 0).In(c.loc)
				}
			}
		}
		if p.hiW >= limit {
			return time.Time{}
		}
		// The offset changes at p.hi: the clock jumps there.
		nt := time.Unix(p.hi, 0).In(c.loc)
		p = periodOf(nt)
		w0 = nt.Unix() + p.off
		if c.openWall(w0, &p) {
			return nt
		}
	}
}

// isClosed reports whether local day d is a closed date.
func (c *compiledSchedule) isClosed(d int64) bool {
	if len(c.closed) == 0 || d < c.closed[0] || d > c.closed[len(c.closed)-1] {
		return false
	}
	_, found := slices.BinarySearch(c.closed, d)
	return found
}

// weekday is the time.Weekday of day number d (1970-01-01 was a Thursday).
func weekday(d int64) int {
	w := (d + 4) % 7
	if w < 0 {
		w += 7
	}
	return int(w)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
