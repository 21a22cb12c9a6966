// Package demo is the deterministic demo simulator: a Haidian-style data
// set for the six demo departments of [schema.Demo], and a stream of
// plausible updates to it.
//
// The world is drawn from one seeded PCG ([math/rand/v2]), so the same
// seed and size give the same citizens, households, marriages, titles,
// businesses, ratings and accounts, in the same order, and the same
// stream of updates after them. The simulator keeps its own calendar
// (starting 2025-01-06, ten minutes per update) instead of reading the
// clock, for the same reason.
//
// The data is consistent across departments: spouses are residents of
// opposite gender and of age, married couples share a household and an
// address, titles belong to the household head (the spouse is co-owner),
// electricity accounts are at the addresses people live at, legal
// representatives are adult residents and tax ratings are for registered
// businesses. Every change validates against the demo catalog.
//
// The package is pure: no I/O, no goroutines. A [Generator] is not safe
// for concurrent use.
package demo

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/crossledger/crossledger/schema"
)

// Department ids and record type names the simulator writes.
const (
	CivilAffairs     = "civil-affairs"
	PublicSecurity   = "public-security"
	RealEstate       = "real-estate"
	Tax              = "tax"
	MarketRegulation = "market-regulation"
	Electricity      = "electricity"
)

// Haidian is the administrative region code of Haidian District, Beijing.
const Haidian = "110108"

// Change is one record change for a department: what an adapter passes
// to adapters.Client.Publish.
type Change struct {
	Department string
	Type       string
	Op         schema.Op
	Values     map[string]string
}

type citizen struct {
	id, name, gender string
	birth            time.Time
	ethnicity        string
	address          string
	household        string
	head             int // index of the household head (self when head)
	spouse           int // -1 when not married
	marriage         int // index into marriages, -1 when not married
	issued           time.Time
}

type marriage struct {
	id         string
	a, b       int
	status     string
	registered time.Time
	dissolved  time.Time
}

type title struct {
	no        string
	owner     int
	coOwner   int // -1: none
	address   string
	area      string
	usage     string
	regOn     time.Time
	encumbers bool
}

type business struct {
	code, name string
	rep        int
	capital    string
	est        time.Time
	address    string
	status     string
}

type rating struct {
	biz     int
	year    int
	rating  string
	arrears string
}

type account struct {
	no      string
	holder  int
	address string
	kwh     int
	arrears int // in fen
	opened  time.Time
}

// Generator simulates the demo departments. Make one with [New].
type Generator struct {
	rng  *rand.Rand
	now  time.Time // the simulated clock of the stream
	nmar int       // marriages registered, for certificate numbers

	citizens   []citizen
	marriages  []marriage
	titles     []title
	businesses []business
	ratings    []rating
	accounts   []account
	usedIDs    map[string]bool

	initial []Change
	queue   []Change // the rest of the last event's changes
}

// epoch is when the simulated stream starts; the initial data set
// describes the district as of then.
var epoch = time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)

// New builds the world of citizens residents (at least 2) from seed.
func New(seed int64, citizens int) *Generator {
	citizens = max(citizens, 2)
	g := &Generator{
		rng:     rand.New(rand.NewPCG(uint64(seed), 0x63726f73736c6564)), // "crossled"
		now:     epoch,
		usedIDs: map[string]bool{},
	}
	g.populate(citizens)
	g.initial = g.snapshot()
	return g
}

// Initial returns the initial data set: every record of the world as of
// the start of the stream, departments interleaved in a fixed order. The
// result is the same on every call.
func (g *Generator) Initial() []Change {
	out := make([]Change, len(g.initial))
	for i, c := range g.initial {
		out[i] = Change{Department: c.Department, Type: c.Type, Op: c.Op, Values: clone(c.Values)}
	}
	return out
}

// Now returns the simulated time of the last change [Generator.Next]
// returned (the start of the stream before the first).
func (g *Generator) Now() time.Time { return g.now }

var (
	surnames    = []string{"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹"}
	maleGiven   = []string{"伟", "强", "磊", "军", "洋", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏", "华", "飞", "鑫", "波", "斌", "宇", "浩", "凯", "健", "俊", "帆", "帅", "旭", "宁", "龙", "林", "博", "文", "志", "建", "国", "海", "东", "晨"}
	femaleGiven = []string{"芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "玲", "桂", "英", "燕", "萍", "红", "梅", "琳", "雪", "婷", "倩", "颖", "佳", "欣", "悦", "洁", "慧", "晶", "琴", "云", "莉", "兰", "月", "思", "雨", "诗", "晓", "丹", "怡"}
	ethnicities = []string{"汉族", "汉族", "汉族", "汉族", "汉族", "汉族", "汉族", "汉族", "满族", "回族", "蒙古族", "朝鲜族"}
	streets     = []string{"中关村大街", "中关村南大街", "学院路", "知春路", "海淀大街", "成府路", "万泉河路", "苏州街", "北四环西路", "西三环北路", "上地信息路", "清河中街", "五道口东路", "花园路", "紫竹院路", "阜成路", "永定路", "田村路", "西北旺东路", "颐和园路"}
	bizWords    = []string{"智联", "华科", "博远", "中创", "数云", "清源", "星辰", "启明", "恒达", "新航", "睿思", "鼎盛", "汇通", "联拓", "百川"}
	bizKinds    = []string{"科技有限公司", "信息技术有限公司", "软件有限公司", "文化传媒有限公司", "餐饮管理有限公司", "教育科技有限公司", "商贸有限公司", "生物科技有限公司"}
	ratingsAll  = []string{"A", "B", "M", "C", "D"}
)

func (g *Generator) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

// weighted returns an index into weights, drawn in proportion to them.
func (g *Generator) weighted(weights ...int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := g.rng.IntN(total)
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return len(weights) - 1
}

func (g *Generator) date(from, to time.Time) time.Time {
	days := int(to.Sub(from).Hours() / 24)
	return from.AddDate(0, 0, g.rng.IntN(max(days, 1)))
}

func (g *Generator) address() string {
	return fmt.Sprintf("北京市海淀区%s%d号院%d号楼%d%02d室", g.pick(streets), 1+g.rng.IntN(120), 1+g.rng.IntN(20), 1+g.rng.IntN(24), 1+g.rng.IntN(6))
}

func (g *Generator) officeAddress() string {
	return fmt.Sprintf("北京市海淀区%s%d号%d层%d室", g.pick(streets), 1+g.rng.IntN(120), 1+g.rng.IntN(25), 1+g.rng.IntN(30))
}

// citizenID makes a new valid Haidian identity number: region 110108,
// the birth date, a sequence odd for men and even for women, and the
// GB 11643 check character.
func (g *Generator) citizenID(birth time.Time, male bool) string {
	for {
		s := g.rng.IntN(500) * 2
		if male {
			s++
		}
		first := Haidian + birth.Format("20060102") + fmt.Sprintf("%03d", s)
		c, err := schema.CitizenIDCheck(first)
		if err != nil {
			panic(err) // 17 digits by construction
		}
		id := first + string(c)
		if !g.usedIDs[id] {
			g.usedIDs[id] = true
			return id
		}
	}
}

const creditAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// creditCode makes a new valid unified social credit code: authority 9
// (market regulation), type 1 (enterprise), region 110108, a 9-character
// organisation code and the GB 32100 check character.
func (g *Generator) creditCode() string {
	for {
		b := []byte("91" + Haidian)
		for range 9 {
			b = append(b, creditAlphabet[g.rng.IntN(len(creditAlphabet))])
		}
		c, err := schema.CreditCodeCheck(string(b))
		if err != nil {
			panic(err) // alphabet characters by construction
		}
		code := string(append(b, c))
		if !g.usedIDs[code] {
			g.usedIDs[code] = true
			return code
		}
	}
}

func (g *Generator) newCitizen(birth time.Time, male bool) citizen {
	gender, given := "female", femaleGiven
	if male {
		gender, given = "male", maleGiven
	}
	name := g.pick(surnames) + g.pick(given)
	if g.rng.IntN(3) > 0 {
		name += g.pick(given)
	}
	// Cards are issued at 16 at the earliest and renewed; pick a recent issue.
	issuedFrom := max64(birth.AddDate(16, 0, 0), epoch.AddDate(-19, 0, 0))
	return citizen{
		id: g.citizenID(birth, male), name: name, gender: gender, birth: birth,
		ethnicity: g.pick(ethnicities), spouse: -1, marriage: -1,
		issued: g.date(issuedFrom, epoch.AddDate(0, -1, 0)),
	}
}

func max64(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (g *Generator) age(c *citizen, at time.Time) int {
	y := at.Year() - c.birth.Year()
	if at.YearDay() < c.birth.YearDay() {
		y--
	}
	return y
}

func (g *Generator) populate(n int) {
	// Residents aged 18 to 85 at the epoch.
	for range n {
		birth := g.date(epoch.AddDate(-85, 0, 0), epoch.AddDate(-18, 0, 0))
		g.citizens = append(g.citizens, g.newCitizen(birth, g.rng.IntN(2) == 0))
	}
	// Marriages: about 60% of residents, between a man and a woman both
	// at least 22, registered after both turned 22.
	var men, women []int
	for i, c := range g.citizens {
		if g.rng.IntN(10) < 6 && g.age(&c, epoch.AddDate(0, -1, 0)) >= 22 {
			if c.gender == "male" {
				men = append(men, i)
			} else {
				women = append(women, i)
			}
		}
	}
	for len(men) > 0 && len(women) > 0 {
		a, b := men[0], women[0]
		men, women = men[1:], women[1:]
		g.marry(a, b, g.registrationDate(a, b, epoch.AddDate(0, -1, 0)), true)
	}
	// Households: a couple shares one; everyone else heads their own.
	for i := range g.citizens {
		c := &g.citizens[i]
		if c.spouse >= 0 && c.spouse < i {
			continue
		}
		c.head, c.address = i, g.address()
		c.household = fmt.Sprintf("%s%08d", Haidian, 1+g.rng.IntN(99999999))
		if c.spouse >= 0 {
			s := &g.citizens[c.spouse]
			s.head, s.address, s.household = i, c.address, c.household
		}
	}
	// Titles: most households own their home; a few own a second property.
	for i := range g.citizens {
		c := &g.citizens[i]
		if c.head != i {
			continue
		}
		if g.rng.IntN(10) < 7 {
			g.addTitle(i, c.spouse, c.address, "residential")
		}
		if g.rng.IntN(20) == 0 {
			usage := []string{"commercial", "office", "residential", "other"}[g.rng.IntN(4)]
			g.addTitle(i, -1, g.address(), usage)
		}
	}
	// Electricity: one account per household at its address.
	for i := range g.citizens {
		if g.citizens[i].head != i {
			continue
		}
		g.addAccount(i, g.citizens[i].address)
	}
	// Businesses, one per ten residents, each with an adult legal
	// representative, rated for the last three tax years.
	for range max(n/10, 1) {
		g.addBusiness()
	}
}

func (g *Generator) registrationDate(a, b int, until time.Time) time.Time {
	from := max64(g.citizens[a].birth.AddDate(22, 0, 0), g.citizens[b].birth.AddDate(22, 0, 0))
	from = max64(from, time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC))
	if !from.Before(until) {
		return until
	}
	return g.date(from, until)
}

func (g *Generator) marry(a, b int, on time.Time, initial bool) int {
	g.nmar++
	m := marriage{id: fmt.Sprintf("J%s-%d-%06d", Haidian, on.Year(), g.nmar), a: a, b: b, status: "married", registered: on}
	if initial && g.rng.IntN(12) == 0 {
		// Some couples of the initial set are already apart.
		m.status = "divorced"
		m.dissolved = g.date(on.AddDate(0, 6, 0), epoch)
		if !m.dissolved.After(on) {
			m.dissolved = on.AddDate(0, 0, 1)
		}
	}
	g.marriages = append(g.marriages, m)
	mi := len(g.marriages) - 1
	if m.status == "married" {
		g.citizens[a].spouse, g.citizens[b].spouse = b, a
		g.citizens[a].marriage, g.citizens[b].marriage = mi, mi
	}
	return mi
}

func (g *Generator) addTitle(owner, coOwner int, address, usage string) {
	reg := g.date(max64(g.citizens[owner].birth.AddDate(20, 0, 0), time.Date(1995, 1, 1, 0, 0, 0, 0, time.UTC)), epoch.AddDate(0, -1, 0))
	g.titles = append(g.titles, title{
		no:    fmt.Sprintf("京(%d)海淀区不动产权第%07d号", reg.Year(), 1+g.rng.IntN(9999999)),
		owner: owner, coOwner: coOwner, address: address, usage: usage, regOn: reg,
		area:      fmt.Sprintf("%d.%02d", 35+g.rng.IntN(160), g.rng.IntN(100)),
		encumbers: g.rng.IntN(3) == 0,
	})
}

func (g *Generator) addAccount(holder int, address string) {
	g.accounts = append(g.accounts, account{
		no: fmt.Sprintf("0110%08d", 1+g.rng.IntN(99999999)), holder: holder, address: address,
		kwh: 80 + g.rng.IntN(420), opened: g.date(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), epoch.AddDate(0, -1, 0)).Add(time.Duration(g.rng.IntN(8*3600)+8*3600) * time.Second),
	})
}

func (g *Generator) adult() int {
	for {
		i := g.rng.IntN(len(g.citizens))
		if g.age(&g.citizens[i], g.now) >= 18 {
			return i
		}
	}
}

func (g *Generator) addBusiness() {
	rep := g.adult()
	est := g.date(max64(g.citizens[rep].birth.AddDate(18, 0, 0), time.Date(1998, 1, 1, 0, 0, 0, 0, time.UTC)), epoch.AddDate(0, -2, 0))
	b := business{
		code: g.creditCode(), name: "北京" + g.pick(bizWords) + g.pick(bizKinds), rep: rep,
		capital: strconv.Itoa((1+g.rng.IntN(500))*10000) + ".00", est: est, address: g.officeAddress(),
		status: []string{"active", "active", "active", "active", "active", "active", "suspended", "deregistered"}[g.rng.IntN(8)],
	}
	g.businesses = append(g.businesses, b)
	bi := len(g.businesses) - 1
	for y := epoch.Year() - 3; y < epoch.Year(); y++ {
		if y < est.Year() {
			continue
		}
		g.ratings = append(g.ratings, rating{biz: bi, year: y, rating: ratingsAll[g.weighted(40, 35, 10, 10, 5)], arrears: g.arrears()})
	}
}

func (g *Generator) arrears() string {
	if g.rng.IntN(4) > 0 {
		return "0"
	}
	return fmt.Sprintf("%d.%02d", g.rng.IntN(200000), g.rng.IntN(100))
}

const day = "2006-01-02"

func (g *Generator) resident(i int) Change {
	c := &g.citizens[i]
	v := map[string]string{
		"citizen_id": c.id, "name": c.name, "gender": c.gender, "birth_date": c.birth.Format(day),
		"ethnicity": c.ethnicity, "address": c.address, "household_id": c.household,
		"card_issued_on": c.issued.Format(day),
	}
	if c.head != i {
		v["household_head_id"] = g.citizens[c.head].id
	}
	// Cards issued at 46 or older are long-term; younger ones last 10 or 20 years.
	if age := g.age(c, c.issued); age < 26 {
		v["card_expires_on"] = c.issued.AddDate(10, 0, 0).Format(day)
	} else if age < 46 {
		v["card_expires_on"] = c.issued.AddDate(20, 0, 0).Format(day)
	}
	return Change{PublicSecurity, "resident", schema.OpUpsert, v}
}

func (g *Generator) marriageChange(i int) Change {
	m := &g.marriages[i]
	a, b := &g.citizens[m.a], &g.citizens[m.b]
	v := map[string]string{
		"marriage_id": m.id, "spouse_a_id": a.id, "spouse_a_name": a.name, "spouse_b_id": b.id, "spouse_b_name": b.name,
		"status": m.status, "registered_on": m.registered.Format(day), "registry_office": "海淀区民政局婚姻登记处",
	}
	if !m.dissolved.IsZero() {
		v["dissolved_on"] = m.dissolved.Format(day)
	}
	return Change{CivilAffairs, "marriage", schema.OpUpsert, v}
}

func (g *Generator) titleChange(i int) Change {
	t := &g.titles[i]
	v := map[string]string{
		"title_no": t.no, "owner_id": g.citizens[t.owner].id, "owner_name": g.citizens[t.owner].name,
		"address": t.address, "area_sqm": t.area, "usage": t.usage, "registered_on": t.regOn.Format(day),
		"encumbered": strconv.FormatBool(t.encumbers),
	}
	if t.coOwner >= 0 {
		v["co_owner_id"] = g.citizens[t.coOwner].id
	}
	return Change{RealEstate, "property-title", schema.OpUpsert, v}
}

func (g *Generator) businessChange(i int) Change {
	b := &g.businesses[i]
	return Change{MarketRegulation, "business-licence", schema.OpUpsert, map[string]string{
		"credit_code": b.code, "name": b.name, "legal_rep_id": g.citizens[b.rep].id, "legal_rep_name": g.citizens[b.rep].name,
		"registered_capital": b.capital, "established_on": b.est.Format(day), "address": b.address, "status": b.status,
	}}
}

func (g *Generator) ratingChange(i int) Change {
	r := &g.ratings[i]
	b := &g.businesses[r.biz]
	return Change{Tax, "tax-credit", schema.OpUpsert, map[string]string{
		"taxpayer_id": b.code, "year": strconv.Itoa(r.year), "rating": r.rating, "arrears": r.arrears,
		"legal_rep_id": g.citizens[b.rep].id,
	}}
}

func (g *Generator) accountChange(i int) Change {
	a := &g.accounts[i]
	return Change{Electricity, "account", schema.OpUpsert, map[string]string{
		"account_no": a.no, "holder_id": g.citizens[a.holder].id, "holder_name": g.citizens[a.holder].name,
		"address": a.address, "monthly_kwh": strconv.Itoa(a.kwh),
		"arrears": fmt.Sprintf("%d.%02d", a.arrears/100, a.arrears%100), "opened_at": a.opened.Format(time.RFC3339),
	}}
}

// snapshot is the initial data set: residents first (everything else
// refers to them), then marriages, titles, accounts, businesses and
// ratings.
func (g *Generator) snapshot() []Change {
	var out []Change
	for i := range g.citizens {
		out = append(out, g.resident(i))
	}
	for i := range g.marriages {
		out = append(out, g.marriageChange(i))
	}
	for i := range g.titles {
		out = append(out, g.titleChange(i))
	}
	for i := range g.accounts {
		out = append(out, g.accountChange(i))
	}
	for i := range g.businesses {
		out = append(out, g.businessChange(i))
	}
	for i := range g.ratings {
		out = append(out, g.ratingChange(i))
	}
	return out
}

// Next advances the simulated clock by ten minutes and returns the next
// update: a monthly meter reading (most often), a move, a marriage or a
// divorce, a new tax rating, a mortgage taken or paid off, or a business
// suspended or reinstated.
//
// One event may touch several departments (a couple moving changes two
// resident records and opens an electricity account): its changes come
// out of consecutive calls.
func (g *Generator) Next() Change {
	g.now = g.now.Add(10 * time.Minute)
	if len(g.queue) > 0 {
		c := g.queue[0]
		g.queue = g.queue[1:]
		return c
	}
	for {
		var c Change
		var ok bool
		switch g.weighted(40, 12, 5, 5, 15, 10, 5) {
		case 0:
			c, ok = g.meterReading()
		case 1:
			c, ok = g.move()
		case 2:
			c, ok = g.wedding()
		case 3:
			c, ok = g.divorce()
		case 4:
			c, ok = g.rerate()
		case 5:
			c, ok = g.mortgage()
		case 6:
			c, ok = g.businessStatus()
		}
		if ok {
			return c
		}
	}
}

func (g *Generator) meterReading() (Change, bool) {
	if len(g.accounts) == 0 {
		return Change{}, false
	}
	i := g.rng.IntN(len(g.accounts))
	a := &g.accounts[i]
	a.kwh = max(20, a.kwh+g.rng.IntN(121)-60)
	// A bill of about 0.49 CNY per kWh; most households pay it at once.
	if g.rng.IntN(5) == 0 {
		a.arrears += a.kwh * 49
	} else {
		a.arrears = 0
	}
	return g.accountChange(i), true
}

// move moves a household to a new address in the district: the head's
// resident record now, then the spouse's and a new electricity account at
// the new address (the old one stays with the old flat).
func (g *Generator) move() (Change, bool) {
	h := g.citizens[g.rng.IntN(len(g.citizens))].head
	c := &g.citizens[h]
	c.address = g.address()
	if c.spouse >= 0 {
		g.citizens[c.spouse].address = c.address
		g.queue = append(g.queue, g.resident(c.spouse))
	}
	g.addAccount(h, c.address)
	g.queue = append(g.queue, g.accountChange(len(g.accounts)-1))
	return g.resident(h), true
}

// join makes i a member of head's household, at its address.
func (g *Generator) join(i, head int) {
	c, h := &g.citizens[i], &g.citizens[head]
	c.head, c.household, c.address = head, h.household, h.address
}

// leave gives i a household of its own at a new address, with an
// electricity account.
func (g *Generator) leave(i int) {
	c := &g.citizens[i]
	c.head, c.address = i, g.address()
	c.household = fmt.Sprintf("%s%08d", Haidian, 1+g.rng.IntN(99999999))
	g.addAccount(i, c.address)
}

func (g *Generator) wedding() (Change, bool) {
	var a, b = -1, -1
	for range 20 {
		i := g.rng.IntN(len(g.citizens))
		c := &g.citizens[i]
		if c.spouse >= 0 || g.age(c, g.now) < 22 {
			continue
		}
		if a < 0 {
			a = i
		} else if g.citizens[a].gender != c.gender {
			b = i
			break
		}
	}
	if a < 0 || b < 0 {
		return Change{}, false
	}
	if g.citizens[a].gender != "male" {
		a, b = b, a
	}
	mi := g.marry(a, b, g.now.Truncate(24*time.Hour), false)
	// After the registration the wife joins the husband's household (a
	// head with members of their own keeps them and stays put).
	if g.headOfOthers(b) {
		a, b = b, a
	}
	if !g.headOfOthers(b) {
		g.join(b, g.citizens[a].head)
		g.queue = append(g.queue, g.resident(b))
	}
	return g.marriageChange(mi), true
}

// headOfOthers reports whether i heads a household with other members.
func (g *Generator) headOfOthers(i int) bool {
	if g.citizens[i].head != i {
		return false
	}
	for j := range g.citizens {
		if j != i && g.citizens[j].head == i {
			return true
		}
	}
	return false
}

func (g *Generator) divorce() (Change, bool) {
	var live []int
	for i := range g.marriages {
		if g.marriages[i].status == "married" {
			live = append(live, i)
		}
	}
	if len(live) == 0 {
		return Change{}, false
	}
	mi := live[g.rng.IntN(len(live))]
	m := &g.marriages[mi]
	on := g.now.Truncate(24 * time.Hour)
	if !on.After(m.registered) {
		return Change{}, false
	}
	m.status, m.dissolved = "divorced", on
	if g.weighted(9, 1) == 1 {
		m.status = "widowed"
	}
	g.citizens[m.a].spouse, g.citizens[m.b].spouse = -1, -1
	g.citizens[m.a].marriage, g.citizens[m.b].marriage = -1, -1
	// After a divorce the member who isn't the head moves out.
	if m.status == "divorced" {
		for _, i := range []int{m.a, m.b} {
			if g.citizens[i].head != i {
				g.leave(i)
				g.queue = append(g.queue, g.resident(i), g.accountChange(len(g.accounts)-1))
			}
		}
	}
	return g.marriageChange(mi), true
}

func (g *Generator) rerate() (Change, bool) {
	if len(g.ratings) == 0 {
		return Change{}, false
	}
	i := g.rng.IntN(len(g.ratings))
	r := &g.ratings[i]
	// Ratings move one step at a time.
	k := slices.Index(ratingsAll, r.rating) + g.rng.IntN(3) - 1
	r.rating = ratingsAll[min(max(k, 0), len(ratingsAll)-1)]
	r.arrears = g.arrears()
	return g.ratingChange(i), true
}

func (g *Generator) mortgage() (Change, bool) {
	if len(g.titles) == 0 {
		return Change{}, false
	}
	i := g.rng.IntN(len(g.titles))
	g.titles[i].encumbers = !g.titles[i].encumbers
	return g.titleChange(i), true
}

func (g *Generator) businessStatus() (Change, bool) {
	if len(g.businesses) == 0 {
		return Change{}, false
	}
	i := g.rng.IntN(len(g.businesses))
	b := &g.businesses[i]
	switch b.status {
	case "active":
		b.status = []string{"suspended", "active"}[g.rng.IntN(2)]
		if b.status == "active" {
			b.capital = strconv.Itoa((1+g.rng.IntN(500))*10000) + ".00"
		}
	case "suspended":
		b.status = []string{"active", "revoked"}[g.weighted(4, 1)]
	default:
		return Change{}, false // revoked and deregistered are final
	}
	return g.businessChange(i), true
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
