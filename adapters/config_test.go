package adapters

import (
	"reflect"
	"testing"
)

// TestConfigMirrorsPublisherConfig: Config has every PublisherConfig
// field, with the same type, and Config.publisher copies each one (so a
// field added to one and not the other fails here, not in production).
func TestConfigMirrorsPublisherConfig(t *testing.T) {
	var c Config
	cv := reflect.ValueOf(&c).Elem()
	pt := reflect.TypeOf(PublisherConfig{})
	for i := range pt.NumField() {
		f := pt.Field(i)
		cf, ok := cv.Type().FieldByName(f.Name)
		if !ok || cf.Type != f.Type {
			t.Errorf("Config.%s: missing or not a %v", f.Name, f.Type)
			continue
		}
		set(cv.FieldByName(f.Name))
	}
	if t.Failed() {
		return
	}
	pv := reflect.ValueOf(c.publisher())
	for i := range pt.NumField() {
		if pv.Field(i).IsZero() {
			t.Errorf("Config.publisher does not copy %s", pt.Field(i).Name)
		}
	}
}

// set gives v a non-zero value.
func set(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Int, reflect.Int64:
		v.SetInt(1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
	case reflect.Func:
		v.Set(reflect.MakeFunc(v.Type(), func([]reflect.Value) []reflect.Value { return nil }))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
	case reflect.Interface: // note.Verifier, the only one so far
		v.Set(reflect.ValueOf(&cachingVerifier{}))
	default:
		panic("set: add a case for " + v.Kind().String())
	}
}
