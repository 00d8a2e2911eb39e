//go:build !race

package devicesim

const raceEnabled = false
