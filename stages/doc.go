// Package stages holds this repository's stages, one file each. A team's
// magefile pulls the package in with //mage:import, so every exported
// function here is a mage target that selects its stage:
// mage production deploy. Stage targets only select; connecting happens
// inside the flow.
package stages
